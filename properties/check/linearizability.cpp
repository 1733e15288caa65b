#include "linearizability.h"

#include <algorithm>
#include <cerrno>
#include <sstream>
#include <unordered_set>

namespace aq {

std::string to_string(const LinOp &op)
{
	std::ostringstream os;
	os << "t" << op.thread << " [" << op.inv << "," << op.resp << "] ";
	switch (op.kind) {
	case LinOp::Enqueue:
		os << "enqueue(#" << op.handle << ", fifo " << op.fifo << ") = " << op.ret;
		break;
	case LinOp::Pop:
		os << "pop(fifo " << op.fifo << ") = "
		   << (op.handle < 0 ? std::string("NULL") : "#" + std::to_string(op.handle))
		   << ", err " << op.ret;
		break;
	case LinOp::Remove:
		os << "remove(#" << op.handle << ") = " << op.ret;
		break;
	}
	return os.str();
}

namespace {

struct Search {
	const std::vector<LinOp> &h;
	const FifoState &end;
	std::unordered_set<std::string> seen;	// (done mask, state) already failed
	uint64_t explored = 0;

	static std::string key(uint64_t done, const FifoState &s)
	{
		std::string k(reinterpret_cast<const char *>(&done), sizeof(done));
		for (const auto &q : s) {
			for (int x : q)
				k.push_back(char(x));
			k.push_back(char(-1));
		}
		return k;
	}

	static bool locate(const FifoState &s, int handle, size_t *f, size_t *pos)
	{
		for (*f = 0; *f < s.size(); ++*f) {
			auto it = std::find(s[*f].begin(), s[*f].end(), handle);
			if (it != s[*f].end()) {
				*pos = size_t(it - s[*f].begin());
				return true;
			}
		}
		return false;
	}

	// The sequential contract: may @op take effect in @s, and with what result?
	static bool step(const LinOp &op, FifoState &s)
	{
		size_t f, pos;
		switch (op.kind) {
		case LinOp::Enqueue:
			if (op.ret)
				return true;		// lock failed: no effect
			if (locate(s, op.handle, &f, &pos))
				return false;		// a task is on at most one FIFO
			s[size_t(op.fifo)].push_back(op.handle);
			return true;
		case LinOp::Pop:
			if (op.ret)
				return op.handle < 0;	// lock failed: NULL, no effect
			if (s[size_t(op.fifo)].empty())
				return op.handle < 0;
			if (s[size_t(op.fifo)].front() != op.handle)
				return false;
			s[size_t(op.fifo)].erase(s[size_t(op.fifo)].begin());
			return true;
		case LinOp::Remove:
			if (op.ret == -ENOENT)
				return !locate(s, op.handle, &f, &pos);
			if (op.ret)
				return true;		// retries exhausted: no effect
			if (!locate(s, op.handle, &f, &pos))
				return false;
			s[f].erase(s[f].begin() + long(pos));
			return true;
		}
		return false;
	}

	bool dfs(uint64_t done, const FifoState &s)
	{
		const uint64_t all = h.size() == 64 ? ~0ull : (1ull << h.size()) - 1;
		if (done == all)
			return s == end;
		if (!seen.insert(key(done, s)).second)
			return false;
		explored++;
		// Only ops invoked before every pending op has responded may go
		// next: anything else would reorder real-time precedence.
		uint64_t min_resp = UINT64_MAX;
		for (size_t i = 0; i < h.size(); i++)
			if (!(done >> i & 1))
				min_resp = std::min(min_resp, h[i].resp);
		for (size_t i = 0; i < h.size(); i++) {
			if ((done >> i & 1) || h[i].inv > min_resp)
				continue;
			FifoState next = s;
			if (step(h[i], next) && dfs(done | 1ull << i, next))
				return true;
		}
		return false;
	}
};

}  // namespace

LinResult check_linearizable(const std::vector<LinOp> &history, const FifoState &start,
			     const FifoState &end)
{
	LinResult r;
	if (history.size() > 64) {
		r.why = "window too large for the checker (" + std::to_string(history.size()) + " ops)";
		return r;
	}
	Search s{history, end, {}, 0};
	r.ok = s.dfs(0, start);
	r.states_explored = s.explored;
	if (!r.ok) {
		std::ostringstream os;
		os << "no linearisation of this window reaches the observed end state\nstart:";
		for (size_t f = 0; f < start.size(); f++) {
			os << " f" << f << "=[";
			for (int x : start[f])
				os << " #" << x;
			os << " ]";
		}
		os << "\nend:  ";
		for (size_t f = 0; f < end.size(); f++) {
			os << " f" << f << "=[";
			for (int x : end[f])
				os << " #" << x;
			os << " ]";
		}
		os << "\nhistory:\n";
		for (const LinOp &op : history)
			os << "  " << to_string(op) << '\n';
		r.why = os.str();
	}
	return r;
}

}  // namespace aq
