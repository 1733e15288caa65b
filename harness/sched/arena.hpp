// The scheduler's arena layout, seen from userspace.  The skeleton maps the
// arena at the address BPF uses (map_extra), so __arena pointers inside are
// plain pointers here.
#pragma once

#include <cstdint>

using u8 = std::uint8_t;
using u16 = std::uint16_t;
using u32 = std::uint32_t;
using u64 = std::uint64_t;
using s32 = std::int32_t;
using s64 = std::int64_t;

#define __arena
#define AQMAP_LIST_TYPES_ONLY
#include "aqmap_arena.h"
#undef AQMAP_LIST_TYPES_ONLY
