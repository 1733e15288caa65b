// Stateful properties: generated command sequences against the model, every
// invariant checked after every command.  On failure rapidcheck prints the
// shrunk command sequence (Command::show) and a RC_PARAMS reproduce string.
#include "list_commands.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

using namespace aq::props;

// enqueue/pop/remove/move/exit/alloc with every lock acquisition succeeding.
RC_GTEST_PROP(ListProps, SequentialModel, ()) { check_commands(Mode::Plain); }

// Chosen acquisitions fail: failed enqueues are reported, failed pops leave
// the list alone and say so, remove and free retry, nothing is lost.
RC_GTEST_PROP(ListProps, LockFaults, ()) { check_commands(Mode::Faults); }

// One operation preempted at its lock boundary by another: the result must
// be the serial order a correct lock discipline implies.
RC_GTEST_PROP(ListProps, PreemptionRaces, ()) { check_commands(Mode::Races); }

// ops.enqueue's path when a task changes FIFO: remove from the old one, then
// enqueue on the new one, under lock failures.  A remove that claims success
// (or absence) while leaving the task linked shows up here as a task on two
// FIFOs at once.
RC_GTEST_PROP(ListProps, RequeueAcrossFifos, ()) { check_commands(Mode::Requeue); }
