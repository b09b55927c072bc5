// Resident memory of this process (Linux /proc), for benchmarks and round reports.
#pragma once

#include <cstddef>

namespace edgefed {

// Current resident set size in bytes (VmRSS), 0 if unavailable.
std::size_t resident_bytes();
// Peak resident set size since start or the last reset (VmHWM), 0 if unavailable.
std::size_t peak_resident_bytes();
// Resets the peak to the current resident size (writes "5" to /proc/self/clear_refs);
// returns false where the kernel does not allow it (the peak then keeps its old value).
bool reset_peak_resident();

}  // namespace edgefed
