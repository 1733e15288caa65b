// libFuzzer target: input bytes -> a sequence of list operations with chosen
// lock acquisitions failing, run on the twin through the very same commands
// (and so the very same contract and invariant checks) as the stateful
// properties.  A violation prints the decoded sequence and aborts, which
// makes libFuzzer keep the input as a crash artifact.
//
// Encoding, 3 bytes per operation:
//   op    % 7: alloc, enqueue, pop, remove, move, exit, race
//   arg       : fifo = arg % nr_fifos, task = (arg >> 3) % candidates
//   fault byte: bit 7: every retry fails, then bits 0-2 for what follows;
//               else bit 6: bits 0-5 fail the first six acquisitions;
//               else no injected failure.  (race: point, fifos, inner task)
#include "../tests/list_commands.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

using namespace aq;
using namespace aq::props;

namespace {

std::vector<bool> decode_faults(uint8_t fb)
{
	std::vector<bool> s;
	if (fb & 0x80) {
		s.assign(size_t(Twin::lock_retries()), true);
		for (int i = 0; i < 3; i++)
			s.push_back(fb >> i & 1);
	} else if (fb & 0x40) {
		for (int i = 0; i < 6; i++)
			s.push_back(fb >> i & 1);
	}
	return s;
}

template <typename V>
bool pick(const V &cand, unsigned sel, int32_t *out)
{
	if (cand.empty())
		return false;
	*out = cand[sel % cand.size()];
	return true;
}

std::shared_ptr<const ListCmd> decode(const Model &m, uint8_t op, uint8_t arg, uint8_t fb)
{
	const int nf = int(m.fifos.size());
	const int fifo = arg % nf;
	const unsigned sel = arg >> 3;
	int32_t pid;
	switch (op % 7) {
	case 0:
		return std::make_shared<Alloc>(m.next_pid, decode_faults(fb));
	case 1:
		if (!pick(m.unqueued_pids(), sel, &pid))
			return nullptr;
		return std::make_shared<Enqueue>(pid, fifo, decode_faults(fb));
	case 2:
		return std::make_shared<Pop>(fifo, decode_faults(fb));
	case 3:
		if (!pick(m.live_pids(), sel, &pid))
			return nullptr;
		return std::make_shared<Remove>(pid, decode_faults(fb));
	case 4:
		if (!pick(m.live_pids(), sel, &pid))
			return nullptr;
		return std::make_shared<Move>(pid, fifo, decode_faults(fb));
	case 5:
		if (!pick(m.live_pids(), sel, &pid))
			return nullptr;
		return std::make_shared<Exit>(pid, decode_faults(fb));
	default: {
		Op outer{Op::Kind(arg % 3)}, inner{Op::Kind(arg / 3 % 3)};
		outer.fifo = (fb >> 1) % nf;
		inner.fifo = (fb >> 4) % nf;
		auto cand = [&](const Op &o) { return o.kind == Op::Enq ? m.unqueued_pids() : m.live_pids(); };
		if (outer.kind != Op::Pop && !pick(cand(outer), sel, &outer.pid))
			return nullptr;
		if (inner.kind != Op::Pop) {
			std::vector<int32_t> c;
			for (int32_t p : cand(inner))
				if (p != outer.pid)
					c.push_back(p);
			if (!pick(c, unsigned(fb) >> 3, &inner.pid))
				return nullptr;
		}
		return std::make_shared<Race>(outer, inner, fb & 1 ? LockPoint::Release : LockPoint::Acquire);
	}
	}
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	constexpr size_t kMaxOps = 256;
	Sut sut;
	Model model = initial_model();
	std::ostringstream trace;
	for (size_t i = 0; i + 3 <= size && i / 3 < kMaxOps; i += 3) {
		auto cmd = decode(model, data[i], data[i + 1], data[i + 2]);
		if (!cmd)
			continue;
		try {
			cmd->checkPreconditions(model);
		} catch (const rc::detail::CaseResult &) {
			continue;	// not valid in this state (RC_PRE): skip the op
		}
		cmd->show(trace);
		trace << '\n';
		try {
			cmd->run(model, sut);
		} catch (const rc::detail::CaseResult &r) {
			std::cerr << "list_fuzz: invariant violated after\n"
				  << trace.str() << "\n" << r.description << std::endl;
			std::abort();
		}
		cmd->apply(model);
	}
	return 0;
}
