#include "script.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace aqops {

namespace {

std::vector<std::string> split(const std::string &s, char sep)
{
	std::vector<std::string> out;
	std::string cur;
	std::istringstream in(s);
	while (std::getline(in, cur, sep))
		out.push_back(cur);
	if (!s.empty() && s.back() == sep)
		out.emplace_back();
	return out;
}

uint32_t number(const std::string &tok, size_t &i)
{
	size_t start = i;
	while (i < tok.size() && isdigit((unsigned char)tok[i]))
		i++;
	if (start == i)
		throw std::invalid_argument(fmt::format("script: number expected in '{}'", tok));
	return uint32_t(std::stoul(tok.substr(start, i - start)));
}

Event parse_event(const std::string &tok)
{
	if (tok.empty())
		throw std::invalid_argument("script: empty event");
	Event e;
	size_t i = 1;
	switch (tok[0]) {
	case 'w': case 'f':
		e.kind = Ev(tok[0]);
		e.task = int(number(tok, i));
		break;
	case 's': case 'x': case 'd': case 'e':
		e.kind = Ev(tok[0]);
		break;
	case 'n': case 'a':
		e.kind = Ev(tok[0]);
		e.task = int(number(tok, i));
		if (i >= tok.size() || tok[i] != '=')
			throw std::invalid_argument(fmt::format("script: '=' expected in '{}'", tok));
		i++;
		e.arg = number(tok, i);
		break;
	default:
		throw std::invalid_argument(fmt::format("script: unknown event '{}'", tok));
	}
	if (i != tok.size())
		throw std::invalid_argument(fmt::format("script: trailing text in '{}'", tok));
	return e;
}

}  // namespace

std::string event_str(const Event &e)
{
	switch (e.kind) {
	case Ev::Wake: case Ev::Fork:
		return fmt::format("{}{}", char(e.kind), e.task);
	case Ev::Weight: case Ev::Affinity:
		return fmt::format("{}{}={}", char(e.kind), e.task, e.arg);
	default:
		return std::string(1, char(e.kind));
	}
}

std::string Script::str() const
{
	std::string s;
	for (size_t i = 0; i < tasks.size(); i++)
		s += fmt::format("{}{}m{}{}", i ? "." : "", tasks[i].weight, tasks[i].mask,
				 char(tasks[i].start));
	s += ';';
	for (size_t c = 0; c < cpus.size(); c++) {
		if (c)
			s += '/';
		for (size_t k = 0; k < cpus[c].size(); k++)
			s += (k ? "," : "") + event_str(cpus[c][k]);
	}
	return s;
}

Script Script::parse(const std::string &s)
{
	Script sc;
	auto parts = split(s, ';');
	if (parts.size() != 2)
		throw std::invalid_argument("script: expected '<tasks>;<events>'");
	for (auto &t : split(parts[0], '.')) {
		TaskSpec ts;
		size_t i = 0;
		ts.weight = number(t, i);
		if (i >= t.size() || t[i] != 'm')
			throw std::invalid_argument(fmt::format("script: 'm' expected in task '{}'", t));
		i++;
		ts.mask = number(t, i);
		if (i + 1 != t.size() || (t[i] != 'q' && t[i] != 's' && t[i] != 'u'))
			throw std::invalid_argument(fmt::format("script: state q, s or u expected in task '{}'", t));
		ts.start = Start(t[i]);
		sc.tasks.push_back(ts);
	}
	for (auto &c : split(parts[1], '/')) {
		std::vector<Event> evs;
		if (!c.empty())
			for (auto &tok : split(c, ','))
				evs.push_back(parse_event(tok));
		sc.cpus.push_back(std::move(evs));
	}
	for (auto &c : sc.cpus)
		for (auto &e : c)
			if (e.task >= int(sc.tasks.size()))
				throw std::invalid_argument(fmt::format("script: no task {}", e.task));
	if (sc.tasks.empty() || sc.cpus.empty())
		throw std::invalid_argument("script: needs a task and a CPU");
	return sc;
}

std::vector<std::string> read_script_file(const std::string &path)
{
	std::ifstream in(path);
	if (!in)
		throw std::invalid_argument(fmt::format("cannot read script file {}", path));
	std::vector<std::string> out;
	std::string line;
	while (std::getline(in, line)) {
		line = line.substr(0, line.find('#'));
		auto b = line.find_first_not_of(" \t"), e = line.find_last_not_of(" \t");
		if (b != std::string::npos)
			out.push_back(line.substr(b, e - b + 1));
	}
	return out;
}

size_t Script::nr_events() const
{
	size_t n = 0;
	for (auto &c : cpus)
		n += c.size();
	return n;
}

}  // namespace aqops
