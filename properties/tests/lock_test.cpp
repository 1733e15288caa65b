// The twin's lock and fault hooks keep the contract the list code relies on
// (kernel bpf_res_spin_lock semantics).  If these were wrong, every other
// property would be testing the wrong thing.
#include "../twin/aqmap_twin_compat.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace {

struct LockTest : ::testing::Test {
	void TearDown() override
	{
		aq::clear_fault_policy();
		aq::clear_preemption();
		aq::set_lock_timeout_ns(250'000'000);
	}
};

TEST_F(LockTest, AcquireReleaseReturnsZero)
{
	struct bpf_res_spin_lock *l = qmap_fifo_lock(0);
	ASSERT_EQ(bpf_res_spin_lock(l), 0);
	EXPECT_EQ(aq::locks_held_by_me(), 1);
	bpf_res_spin_unlock(l);
	EXPECT_EQ(aq::locks_held_by_me(), 0);
}

TEST_F(LockTest, ReacquireBySameThreadIsDeadlock)
{
	struct bpf_res_spin_lock *l = qmap_fifo_lock(1);
	ASSERT_EQ(bpf_res_spin_lock(l), 0);
	EXPECT_EQ(bpf_res_spin_lock(l), -EDEADLK);
	bpf_res_spin_unlock(l);
	EXPECT_EQ(bpf_res_spin_lock(l), 0);
	bpf_res_spin_unlock(l);
}

TEST_F(LockTest, HeldElsewhereTimesOutAfterBoundedWait)
{
	aq::set_lock_timeout_ns(20'000'000);
	struct bpf_res_spin_lock *l = qmap_fifo_lock(2);
	std::atomic<bool> taken{false}, done{false};
	std::thread holder([&] {
		ASSERT_EQ(bpf_res_spin_lock(l), 0);
		taken = true;
		while (!done)
			std::this_thread::yield();
		bpf_res_spin_unlock(l);
	});
	while (!taken)
		std::this_thread::yield();
	auto t0 = std::chrono::steady_clock::now();
	EXPECT_EQ(bpf_res_spin_lock(l), -ETIMEDOUT);
	EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(20));
	done = true;
	holder.join();
	EXPECT_EQ(bpf_res_spin_lock(l), 0);
	bpf_res_spin_unlock(l);
}

TEST_F(LockTest, UnknownFifoHasNoLock)
{
	EXPECT_EQ(qmap_fifo_lock(-1), nullptr);
	EXPECT_EQ(qmap_fifo_lock(AQ_TWIN_MAX_FIFOS), nullptr);
}

TEST_F(LockTest, FaultPolicies)
{
	aq::FaultPolicy p;
	p.script = {false, true};
	p.fail_at = 3;
	p.fail_every = 5;
	p.decide = [](u64 n) { return n == 6; };
	aq::set_fault_policy(p);
	std::vector<bool> got;
	for (int i = 0; i < 10; i++)
		got.push_back(qmap_lock_fault());
	//                          0      1     2      3     4     5      6     7      8      9
	std::vector<bool> want = {false, true, false, true, true, false, true, false, false, true};
	EXPECT_EQ(got, want);
	EXPECT_EQ(aq::lock_acquisitions(), 10u);
	EXPECT_EQ(aq::lock_injected(), 5u);
	aq::clear_fault_policy();
	EXPECT_FALSE(qmap_lock_fault());
}

TEST_F(LockTest, PreemptionPointsFireOnceWithHooksOff)
{
	int fired = 0;
	aq::set_preemption(aq::LockPoint::Release, 1, [&] {
		fired++;
		// Hooks are off inside: no nested preemption, no counted acquisition.
		EXPECT_FALSE(qmap_lock_fault());
		struct bpf_res_spin_lock *l = qmap_slab_lock();
		ASSERT_EQ(bpf_res_spin_lock(l), 0);
		bpf_res_spin_unlock(l);
	});
	struct bpf_res_spin_lock *l = qmap_fifo_lock(3);
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(bpf_res_spin_lock(l), 0);
		bpf_res_spin_unlock(l);
	}
	EXPECT_EQ(fired, 1);
	EXPECT_TRUE(aq::preemption_fired());
}

}  // namespace
