#include "explore.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <stdexcept>

namespace aqops {

namespace {

constexpr const char *kDigits = "0123456789abcdefghijklmnopqrstuvwxyz";

// Replays a choice sequence, then takes the non-preemptive default (0) and
// never fails a lock.  Records every choice point for the DFS.
struct PrefixChooser : Chooser {
	struct Point {
		uint8_t n, chosen;
		bool preempt, fault;
	};
	const std::vector<uint8_t> &prefix;
	size_t pos = 0;
	std::vector<Point> points;

	explicit PrefixChooser(const std::vector<uint8_t> &p) : prefix(p) {}
	uint8_t next(uint8_t n)
	{
		uint8_t c = pos < prefix.size() ? prefix[pos] : 0;
		pos++;
		return c < n ? c : 0;
	}
	int pick(const std::vector<int> &opts, bool preempt, size_t) override
	{
		uint8_t n = uint8_t(opts.size()), c = next(n);
		points.push_back({ n, c, preempt, false });
		return c;
	}
	bool fail_lock(size_t) override
	{
		uint8_t c = next(2);
		points.push_back({ 2, c, false, true });
		return c;
	}
};

struct RandomChooser : Chooser {
	std::mt19937_64 rng;
	double fault_rate;
	RandomChooser(uint64_t seed, double fr) : rng(seed), fault_rate(fr) {}
	int pick(const std::vector<int> &opts, bool, size_t) override
	{
		return int(rng() % opts.size());
	}
	bool fail_lock(size_t) override
	{
		return std::uniform_real_distribution<double>(0, 1)(rng) < fault_rate;
	}
};

// PCT (Burckhardt et al., ASPLOS 2010): distinct random priorities per CPU,
// and depth-1 change points among the first @k steps at which the CPU about
// to run drops below every other.
struct PctChooser : Chooser {
	std::mt19937_64 rng;
	double fault_rate;
	std::vector<int> prio;		// per CPU, higher runs first
	std::vector<size_t> change;	// steps at which the running CPU drops
	int lowered = 0;

	PctChooser(uint64_t seed, int nr_cpus, int depth, size_t k, double fr)
		: rng(seed), fault_rate(fr), prio(nr_cpus)
	{
		for (int c = 0; c < nr_cpus; c++)
			prio[c] = depth + c;
		std::shuffle(prio.begin(), prio.end(), rng);
		for (int i = 0; i + 1 < depth; i++)
			change.push_back(1 + rng() % std::max<size_t>(k, 1));
	}
	int best(const std::vector<int> &opts) const
	{
		int b = 0;
		for (size_t i = 1; i < opts.size(); i++)
			if (prio[opts[i]] > prio[opts[b]])
				b = int(i);
		return b;
	}
	int pick(const std::vector<int> &opts, bool, size_t step) override
	{
		int b = best(opts);
		if (std::find(change.begin(), change.end(), step) != change.end()) {
			prio[opts[b]] = --lowered;	// below every initial priority (>= 1)
			b = best(opts);
		}
		return b;
	}
	bool fail_lock(size_t) override
	{
		return std::uniform_real_distribution<double>(0, 1)(rng) < fault_rate;
	}
};

uint64_t mix(uint64_t seed, uint64_t i)
{
	uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (i + 1);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

ExploreResult explore_dfs(const Script &script, const ExploreOptions &opt)
{
	ExploreResult res;
	std::vector<uint8_t> prefix;
	for (;;) {
		if (opt.max_schedules && res.schedules >= opt.max_schedules)
			return res;
		PrefixChooser ch(prefix);
		Outcome out = run_schedule(script, opt.sim, ch);
		res.schedules++;
		if (!out.ok) {
			res.replay = replay_string(script, opt.sim, out.choices);
			res.failure = std::move(out);
			return res;
		}
		// Backtrack: the deepest point with an untried option in the bound.
		auto &pts = ch.points;
		std::vector<int> cost(pts.size() + 1, 0);
		for (size_t i = 0; i < pts.size(); i++)
			cost[i + 1] = cost[i] + (!pts[i].fault && pts[i].preempt && pts[i].chosen > 0);
		size_t i = pts.size();
		for (; i-- > 0;) {
			auto &p = pts[i];
			if (p.chosen + 1 >= p.n)
				continue;
			int c = cost[i] + (!p.fault && p.preempt ? 1 : 0);
			if (c <= opt.bound)
				break;
		}
		if (i == size_t(-1)) {
			res.exhausted = true;
			return res;
		}
		prefix.resize(i + 1);
		for (size_t j = 0; j < i; j++)
			prefix[j] = pts[j].chosen;
		prefix[i] = uint8_t(pts[i].chosen + 1);
	}
}

}  // namespace

std::string strategy_name(Strategy s)
{
	switch (s) {
	case Strategy::Dfs: return "dfs";
	case Strategy::Pct: return "pct";
	case Strategy::Random: return "random";
	}
	return "?";
}

ExploreResult explore(const Script &script, const ExploreOptions &opt)
{
	if (opt.strategy == Strategy::Dfs)
		return explore_dfs(script, opt);
	ExploreResult res;
	uint64_t n = opt.max_schedules ? opt.max_schedules : 1000;
	size_t k = 0;	// PCT's step estimate: the longest run seen so far
	for (uint64_t i = 0; i < n; i++) {
		uint64_t seed = mix(opt.seed, i);
		Outcome out;
		if (opt.strategy == Strategy::Random) {
			RandomChooser ch(seed, opt.fault_rate);
			out = run_schedule(script, opt.sim, ch);
		} else {
			PctChooser ch(seed, int(script.cpus.size()), opt.depth, k ? k : 64, opt.fault_rate);
			out = run_schedule(script, opt.sim, ch);
		}
		k = std::max(k, out.steps);
		res.schedules++;
		if (!out.ok) {
			res.replay = replay_string(script, opt.sim, out.choices);
			res.failure = std::move(out);
			return res;
		}
	}
	return res;
}

std::string replay_string(const Script &script, const SimConfig &cfg, const std::vector<uint8_t> &choices)
{
	std::string c;
	for (uint8_t v : choices)
		c += kDigits[v % 36];
	return fmt::format("aqops1:f{}{}{}{}:{}:{}", cfg.fault_budget,
			   cfg.fault_burst > 1 ? fmt::format("b{}", cfg.fault_burst) : "",
			   cfg.fine_yields ? "y" : "", cfg.probe_newer_custody ? "p" : "", script.str(), c);
}

Replay parse_replay(const std::string &s)
{
	Replay r;
	auto bad = [&](const char *why) {
		return std::invalid_argument(fmt::format("replay string: {} in '{}'", why, s));
	};
	if (s.rfind("aqops1:", 0) != 0)
		throw bad("no 'aqops1:' prefix");
	size_t a = 7, b = s.find(':', a);
	if (b == std::string::npos)
		throw bad("no options field");
	std::string o = s.substr(a, b - a);
	if (o.empty() || o[0] != 'f')
		throw bad("options field must start with f<faults>");
	size_t i = 1;
	while (i < o.size() && isdigit((unsigned char)o[i]))
		i++;
	if (i == 1)
		throw bad("no fault budget");
	r.sim.fault_budget = std::stoi(o.substr(1, i - 1));
	if (i < o.size() && o[i] == 'b') {
		size_t j = ++i;
		while (i < o.size() && isdigit((unsigned char)o[i]))
			i++;
		if (i == j)
			throw bad("no burst length after b");
		r.sim.fault_burst = std::stoi(o.substr(j, i - j));
	}
	if (i < o.size() && o[i] == 'y')
		r.sim.fine_yields = true, i++;
	if (i < o.size() && o[i] == 'p')
		r.sim.probe_newer_custody = true, i++;
	if (i != o.size())
		throw bad("unknown option");
	size_t c = s.rfind(':');
	if (c <= b)
		throw bad("no choices field");
	r.script = Script::parse(s.substr(b + 1, c - b - 1));
	for (char ch : s.substr(c + 1)) {
		const char *p = strchr(kDigits, ch);
		if (!p || !ch)
			throw bad("choice is not a base-36 digit");
		r.choices.push_back(uint8_t(p - kDigits));
	}
	return r;
}

Outcome replay(const Replay &r, bool trace)
{
	SimConfig cfg = r.sim;
	cfg.trace = trace;
	PrefixChooser ch(r.choices);
	return run_schedule(r.script, cfg, ch);
}

}  // namespace aqops
