#pragma once
// How many maps a libbpf skeleton's object holds: opened, never loaded, so it
// works on any kernel.  The guard against libbpf 1.4.6's map-array bug
// (kMaxBpfMaps, scheduler.hpp) counts with it.
#include <bpf/libbpf.h>

namespace aq {

template <typename Skel>
int skeleton_map_count() {
  Skel* skel = Skel::open();
  if (!skel) return -1;
  int n = 0;
  bpf_map* m;
  bpf_object__for_each_map(m, skel->obj) n++;
  Skel::destroy(skel);
  return n;
}

}  // namespace aq
