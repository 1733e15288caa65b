// An event script: the tasks a run starts with and, per simulated CPU, the
// kernel paths that CPU goes through, in order.  CPUs run their paths
// concurrently; the explorer decides how they interleave.
//
// Text form (replay strings carry it, so a failure reproduces without the
// generator that made it):
//   tasks  "<w>m<mask><state>" joined by '.', state q (woken at set-up),
//          s (asleep) or u (unborn: a later fork creates it)
//   events per CPU joined by ',', CPUs joined by '/':
//     w<t>      wake task t            s   the running task sleeps
//     x<t>?     slice expiry (tick)    d   schedule (balance, dispatch, pick)
//     n<t>=<w>  set weight (nice)      a<t>=<mask>  set affinity
//     e         the running task exits f<t>  fork task t
//   e.g. "100m3q.100m3q.20m1s;w2,x,d/n0=20,d"
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace aqops {

enum class Ev : char {
	Wake = 'w',
	Sleep = 's',
	Expire = 'x',
	Schedule = 'd',
	Weight = 'n',
	Affinity = 'a',
	Exit = 'e',
	Fork = 'f',
};

struct Event {
	Ev kind = Ev::Schedule;
	int task = -1;
	uint32_t arg = 0;	// weight or affinity mask
};

enum class Start : char { Queued = 'q', Asleep = 's', Unborn = 'u' };

struct TaskSpec {
	uint32_t weight = 100;
	uint32_t mask = 0;	// allowed CPUs; 0 = all
	Start start = Start::Queued;
};

struct Script {
	std::vector<TaskSpec> tasks;
	std::vector<std::vector<Event>> cpus;	// one event list per CPU

	std::string str() const;
	// Throws std::invalid_argument naming the first bad token.
	static Script parse(const std::string &s);
	size_t nr_events() const;
};

std::string event_str(const Event &e);

// The scripts of a file, one per line; '#' starts a comment, blank lines
// are skipped.  Throws std::invalid_argument if it cannot be read.
std::vector<std::string> read_script_file(const std::string &path);

}  // namespace aqops
