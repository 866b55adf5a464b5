#!/usr/bin/env python3
"""Timing helper for the side-by-side benchmark scripts in bench/.

    measure.py run --label NAME --out FILE [--runs 5] [--warmup 0]
                   [--prepare SHELL-COMMAND] [--log FILE] -- COMMAND ARGS...

runs COMMAND (no shell) `runs` times after `warmup` uncounted runs and appends one
JSON line to FILE: the label, every run's wall time in seconds and peak resident
set size in KiB (`ru_maxrss` of the command and the children it waited for), user
and system CPU seconds, and the medians of time and RSS. `{run}` in COMMAND or in
the prepare command is replaced by the run's index (w0, w1... for warm-up runs),
so every run can get a fresh store directory. The prepare command runs through `sh -c` before each run, untimed.
The command's stdout and stderr go to the log file (default /dev/null); a failing
run aborts with the log's tail.

    measure.py table --results FILE --title TEXT ROW...

prints a table. Each ROW is `LABEL|IMGBUILD-LABEL|OTHER-LABEL|METRIC|TARGET|ANCHOR`,
METRIC `time` or `rss`, TARGET a limit for imgbuild in seconds or MiB (empty for
none), ANCHOR a free-text reference figure for the other tool. A missing OTHER
result prints as "n/a".
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def run_once(command, log_path):
    with open(log_path, "ab") as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, elapsed, usage.ru_maxrss, usage.ru_utime, usage.ru_stime


def command_run(arguments):
    command = arguments.command
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        sys.exit("measure.py: no command given")
    log_path = arguments.log
    if log_path != os.devnull:
        open(log_path, "wb").close()
    indices = [f"w{index}" for index in range(arguments.warmup)] + [
        str(index) for index in range(arguments.runs)
    ]
    times, peaks, user_times, system_times = [], [], [], []
    for index in indices:
        if arguments.prepare:
            subprocess.run(["sh", "-c", arguments.prepare.replace("{run}", index)], check=True)
        concrete = [part.replace("{run}", index) for part in command]
        code, elapsed, peak, user, system = run_once(concrete, log_path)
        if code != 0:
            tail = ""
            if log_path != os.devnull:
                with open(log_path, "rb") as log:
                    tail = log.read()[-3000:].decode(errors="replace")
            sys.exit(
                f"measure.py: {arguments.label}: `{' '.join(concrete)}` exited with {code}\n{tail}"
            )
        if not index.startswith("w"):
            times.append(elapsed)
            peaks.append(peak)
            user_times.append(user)
            system_times.append(system)
    result = {
        "label": arguments.label,
        "command": command,
        "times": times,
        "peak_rss_kib": peaks,
        "user_times": user_times,
        "system_times": system_times,
        "median_time": statistics.median(times),
        "median_rss_kib": statistics.median(peaks),
    }
    with open(arguments.out, "a") as out:
        out.write(json.dumps(result) + "\n")
    print(
        f"  {arguments.label}: median {format_time(result['median_time'])}, "
        f"{format_mib(result['median_rss_kib'])} peak RSS, "
        f"CPU user {format_time(statistics.median(user_times))} "
        f"system {format_time(statistics.median(system_times))}",
        file=sys.stderr,
    )


def format_time(seconds):
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def format_mib(kib):
    return f"{kib / 1024:.0f} MiB"


def summary(result, metric):
    values = result["times"] if metric == "time" else result["peak_rss_kib"]
    show = format_time if metric == "time" else format_mib
    middle = statistics.median(values)
    return middle, f"{show(middle)} [{show(min(values))}..{show(max(values))}]"


def command_table(arguments):
    results = {}
    if os.path.exists(arguments.results):
        with open(arguments.results) as lines:
            for line in lines:
                if line.strip():
                    result = json.loads(line)
                    results[result["label"]] = result
    header = ("measurement", "imgbuild median [min..max]", f"{arguments.other} median [min..max]",
              f"{arguments.other}/imgbuild", "imgbuild target", f"{arguments.other} anchor")
    rows = []
    for row in arguments.rows:
        label, mine, other, metric, target, anchor = row.split("|")
        mine_result, other_result = results.get(mine), results.get(other)
        if mine_result is None:
            mine_median, mine_text = None, "n/a"
        else:
            mine_median, mine_text = summary(mine_result, metric)
        if other_result is None:
            other_median, other_text = None, "n/a"
        else:
            other_median, other_text = summary(other_result, metric)
        ratio = (
            f"{other_median / mine_median:.1f}x"
            if mine_median and other_median is not None
            else "n/a"
        )
        target_text = ""
        if target:
            limit = float(target)
            if metric == "time":
                limit_text = format_time(limit)
                value = mine_median
            else:
                limit_text = f"{limit / 1024:g} GiB" if limit >= 1024 else f"{limit:g} MiB"
                value = None if mine_median is None else mine_median / 1024
            verdict = "?" if value is None else ("met" if value <= limit else "MISSED")
            target_text = f"<= {limit_text} {verdict}"
        rows.append((label, mine_text, other_text, ratio, target_text, anchor))
    widths = [max(len(row[column]) for row in [header] + rows) for column in range(len(header))]
    print(arguments.title)
    for row in [header] + rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="subcommand", required=True)
    run = commands.add_parser("run")
    run.add_argument("--label", required=True)
    run.add_argument("--out", required=True)
    run.add_argument("--runs", type=int, default=5)
    run.add_argument("--warmup", type=int, default=0)
    run.add_argument("--prepare")
    run.add_argument("--log", default=os.devnull)
    run.add_argument("command", nargs=argparse.REMAINDER)
    table = commands.add_parser("table")
    table.add_argument("--results", required=True)
    table.add_argument("--title", required=True)
    table.add_argument("--other", default="nix")
    table.add_argument("rows", nargs="+")
    arguments = parser.parse_args()
    if arguments.subcommand == "run":
        command_run(arguments)
    else:
        command_table(arguments)


if __name__ == "__main__":
    main()
