#!/usr/bin/env python3
"""Where a proxy's CPU goes, on the real CPU, kernel included: reads `perf script -F
comm,ip,sym,dso` output (of `perf record -e cpu-clock -g -p PID`) and splits the samples into
user-space work (SQLite apart from the rest) and kernel work by the system call each sample's
call chain is under.

    perf record -e cpu-clock -F 1999 -g -p "$PID" -o perf.data -- sleep 10
    perf script -i perf.data -F comm,ip,sym,dso | bench/cpu_split.py

`bench/pgbench.sh` does this for every gatehouse run when PERF=1. In a virtual machine
`cpu-clock` samples taken while interrupts are off land where they are turned on again
(`_raw_spin_unlock_irqrestore` in the wake-up of the receiving process, `finish_task_switch`):
they are counted under the system call whose chain they are in, which is where the time went.
"""

import collections
import sys

# (category, substring of a frame) in the order they are tried: the first match wins.
KERNEL = [
    ("pwrite64 (SQLite WAL frames)", "pwrite"),
    ("fcntl (SQLite WAL locks)", "fcntl"),
    ("fdatasync (audit fsync)", "fdatasync"),
    ("futex (threads waking each other)", "futex"),
    ("epoll_wait (waiting for sockets)", "epoll_wait"),
    ("send (gatehouse: to the server; pgbouncer: both ways)", "__send"),
    ("writev (to the client)", "writev"),
    ("recvfrom (from either side)", "recv"),
    ("openat/close", "openat"),
]
SQLITE_FRAMES = ("sqlite3", "pcache1", "walIndex", "walChecksum", "pager")


def category(frames):
    if "kernel.kallsyms" not in frames[0]:
        if any(marker in frame for frame in frames for marker in SQLITE_FRAMES):
            return "user: SQLite"
        return "user: everything else"
    chain = " ".join(frames)
    for name, marker in KERNEL:
        if marker in chain:
            return "kernel: " + name
    return "kernel: other (interrupts, scheduling outside a system call)"


def main():
    counts = collections.Counter()
    for sample in sys.stdin.read().split("\n\n"):
        lines = [line.strip() for line in sample.strip().splitlines() if line.strip()]
        if len(lines) >= 2:
            counts[category(lines[1:])] += 1
    total = sum(counts.values())
    if total == 0:
        sys.exit("cpu_split.py: no samples with call chains on standard input")
    kernel = sum(n for name, n in counts.items() if name.startswith("kernel"))
    print(f"{total} samples, kernel {100 * kernel / total:.1f} %")
    for name, n in counts.most_common():
        print(f"  {name:64s} {100 * n / total:5.1f} %")


if __name__ == "__main__":
    main()
