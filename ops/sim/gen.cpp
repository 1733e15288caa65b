#include "gen.h"

#include <random>

namespace aqops {

Script generate_script(uint64_t seed, int nr_cpus, int nr_tasks, int events_per_cpu)
{
	std::mt19937_64 rng(seed);
	auto pick = [&](int n) { return int(rng() % uint64_t(n)); };
	static const uint32_t weights[] = { 1, 20, 50, 100, 300, 1000, 10000 };
	Script s;
	for (int t = 0; t < nr_tasks; t++) {
		TaskSpec ts;
		ts.weight = weights[pick(7)];
		ts.mask = pick(3) ? 0 : 1u + uint32_t(pick((1 << nr_cpus) - 1));
		int st = pick(6);
		ts.start = t == 0 || st < 4 ? Start::Queued : st == 4 ? Start::Asleep : Start::Unborn;
		s.tasks.push_back(ts);
	}
	static const Ev kinds[] = { Ev::Wake, Ev::Sleep, Ev::Expire, Ev::Schedule, Ev::Weight,
				    Ev::Affinity, Ev::Exit, Ev::Fork, Ev::Expire, Ev::Schedule };
	for (int c = 0; c < nr_cpus; c++) {
		std::vector<Event> evs;
		for (int i = 0; i < events_per_cpu; i++) {
			Event e;
			e.kind = kinds[pick(10)];
			if (e.kind == Ev::Exit && pick(3))
				e.kind = Ev::Expire;	// exits end tasks: keep them rarer
			switch (e.kind) {
			case Ev::Wake: case Ev::Fork:
				e.task = pick(nr_tasks);
				break;
			case Ev::Weight:
				e.task = pick(nr_tasks);
				e.arg = weights[pick(7)];
				break;
			case Ev::Affinity:
				e.task = pick(nr_tasks);
				e.arg = 1u + uint32_t(pick((1 << nr_cpus) - 1));
				break;
			default:
				break;
			}
			evs.push_back(e);
		}
		s.cpus.push_back(evs);
	}
	return s;
}

Script shrink_script(const Script &s, const ExploreOptions &opt, const std::string &check)
{
	auto fails = [&](const Script &c) {
		ExploreResult r = explore(c, opt);
		return r.failure && r.failure->check == check;
	};
	Script best = s;
	bool progress = true;
	while (progress) {
		progress = false;
		for (size_t c = 0; c < best.cpus.size(); c++)
			for (size_t i = 0; i < best.cpus[c].size(); i++) {
				Script t = best;
				t.cpus[c].erase(t.cpus[c].begin() + long(i));
				if (fails(t)) {
					best = t;
					progress = true;
					i--;
				}
			}
		for (auto &ts : best.tasks) {
			if (ts.start != Start::Queued)
				continue;
			Script t = best;
			t.tasks[size_t(&ts - best.tasks.data())].start = Start::Asleep;
			if (fails(t)) {
				best = t;
				progress = true;
			}
		}
	}
	return best;
}

}  // namespace aqops
