// Mainline scx_qmap's reaction to lock failures, checked directly (linked
// only into aq_props_qmap_upstream): every failed acquisition is followed by
// exactly one scx_bpf_error() and changes nothing, there is no retry, and a
// remove of a task that is not queued takes no lock.  The stateful
// properties see the same contract through the adapter's return codes; this
// pins the scx_bpf_error() count itself, which they cannot see.
#include "../twin/aqmap_twin_compat.h"
#include "../twin/twin.h"

#include <gtest/gtest.h>

#include <cstring>

u64 aq_upstream_scx_errors();
u64 aq_upstream_contract_breaches();
const char *aq_upstream_last_error();

namespace {

struct MainlineContract : ::testing::Test {
	u64 errors0 = aq_upstream_scx_errors();
	u64 breaches0 = aq_upstream_contract_breaches();
	u64 errors() const { return aq_upstream_scx_errors() - errors0; }
	void fail_next(std::vector<bool> script)
	{
		aq::FaultPolicy p;
		p.script = std::move(script);
		aq::set_fault_policy(p);
	}
	void TearDown() override
	{
		aq::clear_fault_policy();
		EXPECT_EQ(aq_upstream_contract_breaches(), breaches0);
		EXPECT_EQ(aq::locks_held_by_me(), 0);
	}
};

TEST_F(MainlineContract, NoRetries)
{
	EXPECT_EQ(aq::Twin::lock_retries(), 1);
	EXPECT_EQ(aq::Twin::nr_fifos(), 5);
}

TEST_F(MainlineContract, EnqueueLockFailureDropsWithOneScxError)
{
	aq::Twin t(4);
	int h = t.alloc(1);
	ASSERT_GE(h, 0);
	fail_next({true});
	EXPECT_EQ(t.enqueue(h, 2, 7), -ETIMEDOUT);
	EXPECT_EQ(aq::lock_acquisitions(), 1u);
	EXPECT_EQ(errors(), 1u);
	EXPECT_STREQ(aq_upstream_last_error(), "res_spin_lock failed");
	aq::Snapshot s = t.snapshot();
	EXPECT_EQ(s.fifo[2].head, aq::kNone);
	EXPECT_EQ(s.ctx[size_t(h)].fifo, aq::kNone);
}

TEST_F(MainlineContract, PopLockFailureReturnsNullWithOneScxError)
{
	aq::Twin t(4);
	int h = t.alloc(1);
	ASSERT_EQ(t.enqueue(h, 0, 1), 0);
	const aq::Snapshot before = t.snapshot();
	fail_next({true});
	int err = 0;
	EXPECT_EQ(t.pop(0, &err), aq::kNone);
	EXPECT_EQ(err, -ETIMEDOUT);
	EXPECT_EQ(errors(), 1u);
	EXPECT_EQ(t.snapshot(), before);
}

TEST_F(MainlineContract, RemoveLockFailureIsNotRetried)
{
	aq::Twin t(4);
	int h = t.alloc(1);
	ASSERT_EQ(t.enqueue(h, 1, 1), 0);
	const aq::Snapshot before = t.snapshot();
	fail_next({true, false, false});
	EXPECT_EQ(t.remove(h), -ETIMEDOUT);
	EXPECT_EQ(aq::lock_acquisitions(), 1u);	// one try only
	EXPECT_EQ(errors(), 1u);
	EXPECT_EQ(t.snapshot(), before);		// still queued
}

TEST_F(MainlineContract, RemoveOfUnqueuedTaskTakesNoLock)
{
	aq::Twin t(4);
	int h = t.alloc(1);
	fail_next({});
	EXPECT_EQ(t.remove(h), -ENOENT);
	EXPECT_EQ(aq::lock_acquisitions(), 0u);
	EXPECT_EQ(errors(), 0u);
}

TEST_F(MainlineContract, SlabExhaustionIsScxError)
{
	aq::Twin t(2);
	ASSERT_GE(t.alloc(1), 0);
	ASSERT_GE(t.alloc(2), 0);
	EXPECT_EQ(t.alloc(3), aq::kNone);
	EXPECT_EQ(errors(), 1u);
	EXPECT_NE(std::strstr(aq_upstream_last_error(), "slab exhausted"), nullptr);
}

TEST_F(MainlineContract, FreeLockFailureKeepsContextOffTheFreeList)
{
	aq::Twin t(2);
	int h = t.alloc(1);
	fail_next({true});
	EXPECT_EQ(t.free(h), -ETIMEDOUT);
	EXPECT_EQ(errors(), 1u);
	aq::Snapshot s = t.snapshot();
	EXPECT_NE(s.free_head, h);
	EXPECT_EQ(s.ctx[size_t(h)].in_use, 1u);
	aq::clear_fault_policy();
	EXPECT_EQ(t.free(h), 0);
	EXPECT_EQ(t.snapshot().free_head, h);
}

}  // namespace
