// The stale-entry rule and the audit's failure messages, on synthetic audits.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "run/audit.hpp"

namespace {

using aq::StaleTracker;
using namespace std::chrono_literals;

struct AuditBuf {
  std::unique_ptr<aq_audit> au = std::make_unique<aq_audit>();
  AuditBuf& entry(int pid, std::uint64_t seq, bool custody, int fifo = 0) {
    auto& e = au->entries[au->nr_entries++];
    e = {};
    e.pid = pid;
    e.enq_seq = seq;
    e.fifo = fifo;
    e.in_custody = custody;
    e.found = 1;
    return *this;
  }
  AuditBuf& next() {
    au->seq++;
    au->nr_entries = 0;
    return *this;
  }
};

TEST(StaleTracker, SameEntryOutOfCustodyInTwoAuditsTenMsApartIsStale) {
  StaleTracker t;
  AuditBuf b;
  auto t0 = StaleTracker::Clock::now();
  EXPECT_TRUE(t.observe(*b.next().entry(42, 7, false).au, t0).empty());
  auto msgs = t.observe(*b.next().entry(42, 7, false).au, t0 + 20ms);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_NE(msgs[0].find("dequeue did not remove: pid 42 (enqueue #7)"), std::string::npos) << msgs[0];
  // Reported once only.
  EXPECT_TRUE(t.observe(*b.next().entry(42, 7, false).au, t0 + 40ms).empty());
  EXPECT_EQ(t.stale_entries(), 1u);
}

TEST(StaleTracker, AuditsCloserThanTheGapWaitForALaterOne) {
  StaleTracker t;
  AuditBuf b;
  auto t0 = StaleTracker::Clock::now();
  t.observe(*b.next().entry(1, 1, false).au, t0);
  EXPECT_TRUE(t.observe(*b.next().entry(1, 1, false).au, t0 + 5ms).empty());
  EXPECT_EQ(t.observe(*b.next().entry(1, 1, false).au, t0 + 11ms).size(), 1u);
}

TEST(StaleTracker, InCustodyOrRequeuedOrGoneIsNotStale) {
  StaleTracker t;
  AuditBuf b;
  auto t0 = StaleTracker::Clock::now();
  t.observe(*b.next().entry(1, 1, true).entry(2, 5, false).entry(3, 9, false).au, t0);
  // pid 1 stays in custody; pid 2 re-enqueued (new sequence); pid 3 left the FIFO.
  auto msgs = t.observe(*b.next().entry(1, 1, true).entry(2, 6, false).au, t0 + 50ms);
  EXPECT_TRUE(msgs.empty());
  // A gap in the chain restarts it: absent in one audit, back in the next.
  t.observe(*b.next().au, t0 + 100ms);
  EXPECT_TRUE(t.observe(*b.next().entry(3, 9, false).au, t0 + 150ms).empty());
}

TEST(AuditMessages, EveryFailureStatusNamesFifoAndValues) {
  AuditBuf b;
  b.au->bad_fifo = 3;
  b.au->bad_pid = 77;
  b.au->bad_val[0] = 10;
  b.au->bad_val[1] = 9;
  b.au->status = AQ_AUDIT_OK;
  EXPECT_EQ(aq::describe_audit_failure(*b.au), "");
  b.au->status = AQ_AUDIT_TRUNCATED;
  EXPECT_EQ(aq::describe_audit_failure(*b.au), "");
  for (unsigned st : {AQ_AUDIT_LOCK_FAILED, AQ_AUDIT_BAD_ENDS, AQ_AUDIT_BAD_LINK, AQ_AUDIT_BAD_FIFO,
                      AQ_AUDIT_CYCLE, AQ_AUDIT_CONSERVATION}) {
    b.au->status = st;
    auto msg = aq::describe_audit_failure(*b.au);
    EXPECT_NE(msg.find("FIFO 3"), std::string::npos) << msg;
  }
  b.au->status = AQ_AUDIT_CONSERVATION;
  EXPECT_EQ(aq::describe_audit_failure(*b.au),
            "conservation mismatch: FIFO 3 entries in 10 != popped + removed + length 9");
}

TEST(AuditMessages, EveryCustodyViolationKindIsOneLineWithCountPidAndState) {
  aq_custody c{};
  c.nr_taken = c.nr_ended = 100;  // custodies alone are no violation
  EXPECT_TRUE(aq::describe_custody_violations(c).empty());
  for (int k = 0; k < AQ_CV_NR; k++) {
    c.nr[k] = 1 + k;
    c.last_pid[k] = 40 + k;
    c.last_state[k] = AQ_CUSTODY_DISPATCHED;
  }
  auto lines = aq::describe_custody_violations(c);
  ASSERT_EQ(lines.size(), std::size_t{AQ_CV_NR});
  for (int k = 0; k < AQ_CV_NR; k++) {
    EXPECT_EQ(lines[k].rfind("custody protocol violated: ", 0), 0u) << lines[k];
    EXPECT_NE(lines[k].find(aq_custody_kinds[k].name), std::string::npos) << lines[k];
    EXPECT_NE(lines[k].find(fmt::format("x{}, last pid {}", 1 + k, 40 + k)), std::string::npos) << lines[k];
  }
  EXPECT_EQ(lines[AQ_CV_RUN], "custody protocol violated: ops.running of a task in custody (run-in-custody) x5, "
                              "last pid 44 (ledger: dispatched)");
  c.last_state[AQ_CV_RUN] = 7;  // a torn or corrupt ledger is named, not indexed past the names
  EXPECT_NE(aq::describe_custody_violations(c)[AQ_CV_RUN].find("(ledger: corrupt)"), std::string::npos);
}

}  // namespace


TEST(StallWatch, TenSecondsWithoutActivityIsAStall) {
  aq::StallWatch w;
  aq_stats s{};
  auto t0 = aq::StallWatch::Clock::now();
  EXPECT_FALSE(w.stalled(s, t0));
  s.nr_enqueued = 5;
  EXPECT_FALSE(w.stalled(s, t0 + 9s));   // activity: the clock restarts
  EXPECT_FALSE(w.stalled(s, t0 + 18s));  // 9 s quiet
  EXPECT_TRUE(w.stalled(s, t0 + 19s));   // 10 s quiet
  s.nr_dispatched = 1;
  EXPECT_FALSE(w.stalled(s, t0 + 20s));
}

namespace {

aq_stuck_task stuck(int pid, int fifo, bool on_dsq, std::uint64_t dsq, std::uint64_t ops_state, std::uint32_t flags) {
  aq_stuck_task t{};
  t.pid = pid;
  t.fifo = fifo;
  t.cpu = 1;
  t.on_dsq = on_dsq;
  t.dsq_id = dsq;
  t.ops_state = ops_state;
  t.scx_flags = flags;
  t.weight = 100;
  t.wait_ms = 4100;
  std::snprintf(t.comm, sizeof t.comm, "stress-ng-cpu");
  return t;
}

}  // namespace

TEST(StuckTask, SaysWhereTheTaskIs) {
  EXPECT_EQ(aq::describe_stuck_task(stuck(7, 0, false, 0, 2, 2), 4000),
            "stuck task: pid 7 (stress-ng-cpu) waited 4100 ms for a CPU (bound 4000 ms), on FIFO 0; weight 100, "
            "task CPU 1");
  EXPECT_NE(aq::describe_stuck_task(stuck(7, -1, true, 0, 0, 2), 4000).find("on the shared DSQ (0)"),
            std::string::npos);
  EXPECT_NE(aq::describe_stuck_task(stuck(7, -1, true, 0x8000000000000002ULL, 0, 0), 4000)
                .find("on CPU 1's local DSQ"),
            std::string::npos);
}

TEST(StuckTask, QueuedInCustodyOnNothingIsLost) {
  const auto lost = aq::describe_stuck_task(stuck(9, -1, false, 0, 2 /* QUEUED */, 2 /* IN_CUSTODY */), 4000);
  EXPECT_EQ(lost.rfind("lost task: pid 9 (stress-ng-cpu) waited 4100 ms", 0), 0u) << lost;
  EXPECT_NE(lost.find("nowhere: on no FIFO and no DSQ, ops_state QUEUED (in custody)"), std::string::npos) << lost;
  // Not queued on the BPF side: nowhere, but not the scheduler's loss.
  const auto idle = aq::describe_stuck_task(stuck(9, -1, false, 0, 0, 0), 4000);
  EXPECT_EQ(idle.rfind("stuck task: ", 0), 0u) << idle;
  EXPECT_NE(idle.find("ops_state 0 (not in custody)"), std::string::npos) << idle;
}

// The mutant-unlink-no-prev build once lost aqcheck's own thread from FIFO 2
// right after attach: its context said FIFO 2, the FIFO was empty and
// consistent, and only the wait audit saw it.
TEST(StuckTask, AFifoWaitPastTheBoundSeenOnlyAtDispatchIsStuck) {
  EXPECT_EQ(aq::describe_fifo_wait(3'999'999'999ULL, 2, 139, "stress-ng-cpu", 4000), "");
  EXPECT_EQ(aq::describe_fifo_wait(8'076'329'873ULL, 2, 139, "stress-ng-cpu", 4000),
            "stuck task: pid 139 (stress-ng-cpu) waited 8076 ms for a CPU (bound 4000 ms), on FIFO 2 until its "
            "dispatch");
  // The task may be gone by the time aqcheck reads its name.
  EXPECT_EQ(aq::describe_fifo_wait(5'000'000'000ULL, 0, 7, "", 4000).find("pid 7 (?)"), 12u);
}

TEST(LostNode, LinkedByTheSameEnqueueInTwoScansYetNotMetByTheWalk) {
  auto first = stuck(139, 2, false, 0, 2, 2);
  first.enq_seq = 41;
  auto second = std::make_unique<aq_wait_audit>();
  second->nr_stuck = 1;
  second->stuck[0] = first;
  second->stuck[0].wait_ms = 4350;
  AuditBuf walk;
  walk.entry(200, 40, true, 2);  // someone else on FIFO 2
  const auto why = aq::describe_lost_node(first, *second, *walk.au);
  EXPECT_EQ(why.rfind("corrupted list: FIFO 2 does not reach pid 139 (stress-ng-cpu), whose node it linked "
                      "(enqueue 41)", 0),
            0u)
      << why;
  // The walk met it: not lost.
  walk.entry(139, 41, true, 2);
  EXPECT_EQ(aq::describe_lost_node(first, *second, *walk.au), "");
  // It moved between the scans (another enqueue linked it), or left: not judged.
  AuditBuf empty;
  second->stuck[0].enq_seq = 42;
  EXPECT_EQ(aq::describe_lost_node(first, *second, *empty.au), "");
  second->nr_stuck = 0;
  EXPECT_EQ(aq::describe_lost_node(first, *second, *empty.au), "");
  // A walk that is not whole proves nothing.
  second->nr_stuck = 1;
  second->stuck[0].enq_seq = 41;
  empty.au->status = AQ_AUDIT_TRUNCATED;
  EXPECT_EQ(aq::describe_lost_node(first, *second, *empty.au), "");
  // On no FIFO: the wait audit's own reason says it all.
  EXPECT_EQ(aq::describe_lost_node(stuck(139, -1, false, 0, 2, 2), *second, *walk.au), "");
}

TEST(HostStalls, AGapOfASecondInTheWindowIsNamed) {
  aq::HostStalls h;
  const auto t0 = aq::HostStalls::Clock::now();
  for (int i = 0; i < 100; i++) h.tick(t0 + i * 5ms);
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.during(t0, t0 + 1s), "");
  h.tick(t0 + 495ms + 2500ms);  // the loop stood still 2.5 s
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.longest(), 2500ms);
  const auto note = h.during(t0, t0 + 4s);
  EXPECT_NE(note.find("host stall: aqcheck's own SCHED_FIFO loop stood still 1 time(s), 2.5 s in all"),
            std::string::npos)
      << note;
  // A window that ends before the gap began does not mention it.
  EXPECT_EQ(h.during(t0, t0 + 400ms), "");
  // The loop's own attach (--cycles) took 4 s: that is no standstill.
  h.resume(t0 + 3s + 4000ms);
  h.tick(t0 + 3s + 4005ms);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.during(t0 + 3500ms, t0 + 8s), "");
}
