// Which vector ISA the CPU kernels run with. Each kernel is compiled once per
// ISA (scalar, AVX2+FMA, AVX-512) and picked at run time, so one wheel runs on
// any x86-64 CPU. ZOO_ISA=scalar|avx2|avx512 (or set_isa) caps the choice, which
// is how tests force each path.
#pragma once

#include <string>

namespace zoo {

enum class Isa : int { scalar = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
Isa isa_from_name(const std::string& name);  // throws zoo::Error
Isa detected_isa();                         // best the CPU, OS and this build support
std::string compiled_isas();                // e.g. "scalar,avx2,avx512"
Isa active_isa();                           // detected, capped by ZOO_ISA or set_isa
void set_isa(Isa isa);                      // throws if the CPU cannot run it
void reset_isa();                           // back to detected (ZOO_ISA ignored)

// Size of the largest CPU cache (L3 where the OS reports one; 8 MiB if it
// reports none): the line between outputs worth keeping cached and outputs
// written with streaming stores.
long last_level_cache_bytes();

}  // namespace zoo
