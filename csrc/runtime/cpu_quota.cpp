#include "runtime/cpu_quota.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace minimod {

namespace {

// CPUs for `quota` microseconds of CPU time per `period`: ceil(quota / period), or 0 if unlimited
// or malformed.
int cpus_for(double quota, double period) {
  if (!(quota > 0) || !(period > 0) || !std::isfinite(quota / period)) return 0;
  double cpus = std::ceil(quota / period);
  return cpus >= 1024 ? 1024 : std::max(1, static_cast<int>(cpus));
}

// The smaller of two limits where 0 means "none".
int tighter(int a, int b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return std::min(a, b);
}

// cgroup v2: "max 100000" (unlimited) or "150000 100000".
int v2_limit(const std::string& file) {
  std::ifstream in(file);
  std::string quota, period;
  if (!(in >> quota >> period) || quota == "max") return 0;
  return cpus_for(std::atof(quota.c_str()), std::atof(period.c_str()));
}

// cgroup v1: cpu.cfs_quota_us (-1 = unlimited) over cpu.cfs_period_us.
int v1_limit(const std::string& dir) {
  std::ifstream q(dir + "/cpu.cfs_quota_us"), p(dir + "/cpu.cfs_period_us");
  double quota = 0, period = 0;
  if (!(q >> quota) || !(p >> period)) return 0;
  return cpus_for(quota, period);
}

// Limits are hierarchical: the tightest of the cgroup and its ancestors applies. Walks from
// `base + rel` up to `base` itself.
template <typename LimitOf>
int tightest_up_the_tree(const std::string& base, std::string rel, LimitOf limit_of) {
  int limit = 0;
  while (true) {
    limit = tighter(limit, limit_of(base + rel));
    if (rel.empty() || rel == "/") break;
    std::size_t slash = rel.find_last_of('/');
    rel = slash == std::string::npos ? std::string() : rel.substr(0, slash);
  }
  return limit;
}

}  // namespace

int cgroup_cpu_limit(const std::string& root) {
  // /proc/self/cgroup lines: "0::/path" (v2) or "N:cpu,cpuacct:/path" (v1). Inside a container the
  // path may name a host directory that is not mounted; then the mount root is the container's own
  // cgroup, which the walk reaches last.
  std::ifstream self(root + "/proc/self/cgroup");
  std::string line, v2_path, v1_path;
  while (std::getline(self, line)) {
    std::size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers.empty()) {
      v2_path = path;
    } else {
      std::stringstream list(controllers);
      std::string c;
      while (std::getline(list, c, ','))
        if (c == "cpu") v1_path = path;
    }
  }
  const std::string v2_base = root + "/sys/fs/cgroup";
  int limit = tightest_up_the_tree(v2_base, v2_path, [](const std::string& dir) { return v2_limit(dir + "/cpu.max"); });
  for (const char* mount : {"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu"}) {
    const std::string v1_base = root + mount;
    limit = tighter(limit, tightest_up_the_tree(v1_base, v1_path, v1_limit));
  }
  return limit;
}

}  // namespace minimod
