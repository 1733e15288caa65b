// The stale-entry rule and the audit's failure messages, on synthetic audits.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "audit.hpp"

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
