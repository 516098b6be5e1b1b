// How many CPUs a Linux cgroup CPU quota lets this process use.
//
// A container limited to "1.5 CPUs" still sees every host core in its affinity mask; running one
// thread per visible core there makes the kernel throttle the whole process each period. The
// quota lives in the process's own cgroup (or an ancestor's): cgroup v2 `cpu.max` ("quota period"
// or "max period"), cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us` (quota -1 = unlimited).
#pragma once

#include <string>

namespace minimod {

// The CPU limit the cgroup quota imposes, rounded up (a 1.5-CPU quota can keep 2 threads busy
// half the time; rounding down would leave a permitted CPU idle), or 0 when there is no quota
// or nothing can be read. `root` prefixes every path read, so tests can point it at a fake tree;
// production passes "" (the real /proc and /sys).
int cgroup_cpu_limit(const std::string& root = "");

}  // namespace minimod
