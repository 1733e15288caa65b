#include "model.h"

#include <algorithm>

namespace aq {

std::ostream &operator<<(std::ostream &os, const std::vector<bool> &script)
{
	os << '[';
	for (bool f : script)
		os << (f ? 'F' : '.');
	return os << ']';
}

std::vector<int32_t> Model::live_pids() const
{
	std::vector<int32_t> v;
	for (auto [pid, f] : where)
		v.push_back(pid);
	return v;
}

std::vector<int32_t> Model::unqueued_pids() const
{
	std::vector<int32_t> v;
	for (auto [pid, f] : where)
		if (f == kNotQueued)
			v.push_back(pid);
	return v;
}

std::vector<int32_t> Model::queued_pids() const
{
	std::vector<int32_t> v;
	for (auto [pid, f] : where)
		if (f != kNotQueued)
			v.push_back(pid);
	return v;
}

bool Model::alloc(int32_t pid, FaultScript &fs)
{
	// Like free: the slab lock is retried; only exhaustion or a failure of
	// every retry refuses the task.
	for (int i = 0; i < retries; i++) {
		if (fs.next_fails())
			continue;
		if (int(where.size()) >= capacity)
			return false;
		where[pid] = kNotQueued;
		enq_seq[pid] = 0;
		return true;
	}
	return false;
}

int Model::free(int32_t pid, FaultScript &fs)
{
	for (int i = 0; i < retries; i++) {
		if (fs.next_fails())
			continue;
		where.erase(pid);
		enq_seq.erase(pid);
		return 0;
	}
	return -ETIMEDOUT;
}

int Model::enqueue(int32_t pid, int fifo, uint64_t seq, FaultScript &fs)
{
	if (fs.next_fails())
		return -ETIMEDOUT;
	ModelFifo &f = fifos[size_t(fifo)];
	f.q.push_back(pid);
	f.nr_in++;
	where[pid] = fifo;
	enq_seq[pid] = seq;
	return 0;
}

int32_t Model::pop(int fifo, int *err, FaultScript &fs)
{
	if (fs.next_fails()) {
		*err = -ETIMEDOUT;
		return -1;
	}
	*err = 0;
	ModelFifo &f = fifos[size_t(fifo)];
	if (f.q.empty())
		return -1;
	int32_t pid = f.q.front();
	f.q.pop_front();
	f.nr_popped++;
	where[pid] = kNotQueued;
	return pid;
}

int Model::remove(int32_t pid, FaultScript &fs)
{
	if (!queued(pid))
		return -ENOENT;		// no lock taken
	for (int i = 0; i < retries; i++) {
		if (fs.next_fails())
			continue;
		ModelFifo &f = fifos[size_t(where[pid])];
		f.q.erase(std::find(f.q.begin(), f.q.end(), pid));
		f.nr_removed++;
		where[pid] = kNotQueued;
		return 0;
	}
	return -ETIMEDOUT;
}

int Model::exit(int32_t pid, FaultScript &fs)
{
	int ret = remove(pid, fs);
	if (ret && ret != -ENOENT)
		return ret;		// still queued: must not be freed
	return free(pid, fs);
}

int Model::move(int32_t pid, int fifo, uint64_t seq, FaultScript &fs)
{
	int ret = remove(pid, fs);
	if (ret && ret != -ENOENT)
		return ret;		// still queued elsewhere: linking it again would corrupt
	return enqueue(pid, fifo, seq, fs);
}

} // namespace aq
