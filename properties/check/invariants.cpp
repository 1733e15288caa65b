#include "invariants.h"

#include <sstream>

namespace aq {

std::string Report::str() const
{
	std::ostringstream os;
	for (const Violation &v : v_)
		os << '[' << v.check << "] " << v.what << '\n';
	return os.str();
}

namespace {

bool valid(const Snapshot &s, int h) { return h >= 0 && size_t(h) < s.ctx.size(); }

std::string name(int h)
{
	if (h == kNone)
		return "NULL";
	if (h == kWild)
		return "<outside slab>";
	return "#" + std::to_string(h);
}

template <typename C>
std::string seq_str(const C &c)
{
	std::ostringstream os;
	os << '[';
	for (auto it = c.begin(); it != c.end(); ++it)
		os << (it == c.begin() ? "" : " ") << *it;
	return os.str() + ']';
}

}  // namespace

std::vector<std::vector<int>> fifo_contents(const Snapshot &s)
{
	std::vector<std::vector<int>> out(s.fifo.size());
	for (size_t f = 0; f < s.fifo.size(); f++)
		for (int h = s.fifo[f].head; valid(s, h) && out[f].size() <= s.ctx.size();
		     h = s.ctx[size_t(h)].q_next)
			out[f].push_back(h);
	return out;
}

void check_structure(const Snapshot &s, Report &r)
{
	using namespace check;
	std::vector<int> on_fifo(s.ctx.size(), kNone);	// first FIFO a slot was seen on

	for (size_t f = 0; f < s.fifo.size(); f++) {
		const FifoView &fv = s.fifo[f];
		const std::string F = "fifo " + std::to_string(f) + ": ";

		if (fv.idx != int32_t(f))
			r.add(kOwner, F + "idx is " + std::to_string(fv.idx));
		if ((fv.head == kNone) != (fv.tail == kNone) || (fv.head == kNone) != (fv.len == 0))
			r.add(kEmpty, F + "head " + name(fv.head) + ", tail " + name(fv.tail) +
					      ", len " + std::to_string(fv.len));
		if (fv.nr_in != fv.nr_popped + fv.nr_removed + fv.len)
			r.add(kCounters, F + "nr_in " + std::to_string(fv.nr_in) + " != nr_popped " +
						 std::to_string(fv.nr_popped) + " + nr_removed " +
						 std::to_string(fv.nr_removed) + " + len " +
						 std::to_string(fv.len));
		if (fv.head == kWild || fv.tail == kWild) {
			r.add(kWalk, F + "head/tail outside the slab");
			continue;
		}
		if (valid(s, fv.head) && s.ctx[size_t(fv.head)].q_prev != kNone)
			r.add(kEnds, F + "head " + name(fv.head) + " has q_prev " +
					     name(s.ctx[size_t(fv.head)].q_prev));
		if (valid(s, fv.tail) && s.ctx[size_t(fv.tail)].q_next != kNone)
			r.add(kEnds, F + "tail " + name(fv.tail) + " has q_next " +
					     name(s.ctx[size_t(fv.tail)].q_next));

		// Walk from head: at most one visit per slot, so a cycle ends it.
		std::vector<bool> seen(s.ctx.size());
		uint64_t steps = 0;
		int prev = kNone, h = fv.head;
		bool broken = false;
		while (h != kNone) {
			if (!valid(s, h)) {
				r.add(kWalk, F + "link to " + name(h) + " after " + name(prev));
				broken = true;
				break;
			}
			if (seen[size_t(h)]) {
				r.add(kWalk, F + "cycle: " + name(prev) + " -> " + name(h));
				broken = true;
				break;
			}
			seen[size_t(h)] = true;
			steps++;
			const CtxView &c = s.ctx[size_t(h)];
			if (c.q_prev != prev)
				r.add(kLinks, F + name(h) + "->q_prev is " + name(c.q_prev) +
						      ", walked from " + name(prev));
			if (c.fifo != int(f))
				r.add(kOwner, F + name(h) + " is linked here but its fifo is " +
						      name(c.fifo));
			if (!c.in_use)
				r.add(kSlab, F + name(h) + " is linked but not in use");
			if (on_fifo[size_t(h)] != kNone)
				r.add(kSingle, name(h) + " is on fifo " + std::to_string(on_fifo[size_t(h)]) +
						       " and fifo " + std::to_string(f));
			else
				on_fifo[size_t(h)] = int(f);
			if (c.q_next != kNone && valid(s, c.q_next) &&
			    s.ctx[size_t(c.q_next)].q_prev != h)
				r.add(kLinks, F + name(h) + "->q_next " + name(c.q_next) +
						      " points back to " +
						      name(s.ctx[size_t(c.q_next)].q_prev));
			prev = h;
			h = c.q_next;
		}
		if (!broken && (prev != fv.tail || steps != fv.len))
			r.add(kWalk, F + "walk from head ends at " + name(prev) + " after " +
					     std::to_string(steps) + " steps; tail " + name(fv.tail) +
					     ", len " + std::to_string(fv.len));
	}

	// Every context not on a FIFO: clean if in use (and the free list's
	// members are exactly the contexts not in use).
	std::vector<bool> on_free(s.ctx.size());
	size_t nr_free = 0;
	for (int h = s.free_head; h != kNone; h = s.ctx[size_t(h)].next_free) {
		if (!valid(s, h) || on_free[size_t(h)]) {
			r.add(kSlab, "free list broken at " + name(h));
			break;
		}
		on_free[size_t(h)] = true;
		nr_free++;
		if (s.ctx[size_t(h)].in_use)
			r.add(kSlab, name(h) + " is on the free list but in use");
	}
	for (size_t h = 0; h < s.ctx.size(); h++) {
		const CtxView &c = s.ctx[h];
		if (!c.in_use && !on_free[h])
			r.add(kSlab, name(int(h)) + " is neither in use nor free (leaked)");
		if (!c.in_use || on_fifo[h] != kNone)
			continue;
		if (c.fifo != kNone || c.q_next != kNone || c.q_prev != kNone)
			r.add(kUnqueued, name(int(h)) + " is on no FIFO but has fifo " + name(c.fifo) +
						 ", q_next " + name(c.q_next) + ", q_prev " +
						 name(c.q_prev));
	}
}

void check_against_model(const Snapshot &s, const Model &m,
			 const std::map<int32_t, int> &handle, Report &r)
{
	using namespace check;
	auto contents = fifo_contents(s);
	auto pid_of = [&](int h) { return s.ctx[size_t(h)].pid; };

	for (size_t f = 0; f < m.fifos.size() && f < s.fifo.size(); f++) {
		const ModelFifo &mf = m.fifos[f];
		const FifoView &fv = s.fifo[f];
		std::vector<int32_t> got;
		for (int h : contents[f])
			got.push_back(pid_of(h));
		if (!std::equal(got.begin(), got.end(), mf.q.begin(), mf.q.end()))
			r.add(kOrder, "fifo " + std::to_string(f) + ": pids " + seq_str(got) +
					      ", model " + seq_str(mf.q));
		if (fv.nr_in != mf.nr_in || fv.nr_popped != mf.nr_popped ||
		    fv.nr_removed != mf.nr_removed || fv.len != mf.q.size())
			r.add(kModelCounters,
			      "fifo " + std::to_string(f) + ": in/popped/removed/len " +
				      std::to_string(fv.nr_in) + "/" + std::to_string(fv.nr_popped) + "/" +
				      std::to_string(fv.nr_removed) + "/" + std::to_string(fv.len) +
				      ", model " + std::to_string(mf.nr_in) + "/" +
				      std::to_string(mf.nr_popped) + "/" + std::to_string(mf.nr_removed) +
				      "/" + std::to_string(mf.q.size()));
	}

	// Conservation: every live task is in use, carries its pid, and is
	// linked exactly where the model has it (once), or nowhere.
	std::vector<int> times_linked(s.ctx.size());
	for (const auto &c : contents)
		for (int h : c)
			times_linked[size_t(h)]++;
	size_t in_use = 0;
	for (const CtxView &c : s.ctx)
		in_use += c.in_use != 0;
	if (in_use != m.where.size())
		r.add(kConserved, std::to_string(in_use) + " contexts in use, model has " +
					  std::to_string(m.where.size()) + " live tasks");
	for (auto [pid, f] : m.where) {
		auto it = handle.find(pid);
		if (it == handle.end() || !valid(s, it->second)) {
			r.add(kConserved, "pid " + std::to_string(pid) + " has no context");
			continue;
		}
		const CtxView &c = s.ctx[size_t(it->second)];
		const std::string P = "pid " + std::to_string(pid) + " (" + name(it->second) + "): ";
		if (!c.in_use || c.pid != pid)
			r.add(kConserved, P + "context not in use or pid " + std::to_string(c.pid));
		int want = f == Model::kNotQueued ? 0 : 1;
		if (times_linked[size_t(it->second)] != want)
			r.add(kConserved, P + "linked " + std::to_string(times_linked[size_t(it->second)]) +
						  " times, model: " +
						  (want ? "on fifo " + std::to_string(f) : "not queued"));
		if (f != Model::kNotQueued && c.enq_seq != m.enq_seq.at(pid))
			r.add(kResult, P + "enq_seq " + std::to_string(c.enq_seq) + ", model " +
					       std::to_string(m.enq_seq.at(pid)));
	}
}

}  // namespace aq
