#!/usr/bin/env bash
# First boot: imgbuild's agent next to Debian's cloud-init applying the same NoCloud
# seed to the same web image, and the boot without any agent.
#
#   bash bench/first-boot.sh                  # from the repository root, RUNS=3 boots each
#   RUNS=5 bash bench/first-boot.sh
#
# Three variants of recipes/web.rhai, built into one store (the first build downloads):
#   imgbuild    --arg agent=imgbuild   (the default: imgbuild-first-boot, its two units)
#   cloud-init  --arg agent=cloud-init (Debian 12's cloud-init 22.4 and its dependencies;
#               datasources limited to NoCloud, ConfigDrive, OpenNebula; the web page
#               and boot counter as cloud-init per-instance/per-boot scripts)
#   none        --arg agent=none       (no agent: no host keys, sshd fails; the baseline)
# and one NoCloud seed from examples/fleet.rhai for one VM (bench-vm, 10.0.2.15/24 on
# qemu's user network, this run's own SSH key). Each variant is booted RUNS times with
# `imgbuild boot --accel tcg` (2 vCPUs, 1 GiB, OVMF), each time from the pristine image
# (writes go to a throw-away overlay, so every boot is a first boot).
#
# Figures (median [min..max] over the boots):
#   login      wall time from starting qemu to "bench-vm login:" (or "login:" for none)
#              on the serial console (polled every 0.2 s)
#   agent      the agent's own work: the run time (ExecMainExitTimestamp -
#              ExecMainStartTimestamp, `systemctl show`) summed over its units —
#              imgbuild-first-boot + imgbuild-first-boot-scripts; cloud-init-local +
#              cloud-init + cloud-config + cloud-final — read over SSH once all have run
#   userspace  `systemd-analyze`'s userspace time (until the default target)
# Targets (the first-boot issue): agent(imgbuild) <= agent(cloud-init) / 10;
# login(imgbuild) - login(none) <= 1 s.
set -euo pipefail

RUNS=${RUNS:-3}
IMGBUILD=${IMGBUILD:-target/release/imgbuild}
BENCH_DIR=${BENCH_DIR:-/var/tmp}
[ -x "$IMGBUILD" ] || cargo build --release
IMGBUILD=$(realpath "$IMGBUILD")
REPO=$(pwd)
WORK=$(mktemp -d "$BENCH_DIR/imgbuild-first-boot-bench.XXXXXX")
trap 'pkill -f "$WORK" 2>/dev/null || true; [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"' EXIT
cd "$WORK"
echo "scratch: $WORK"

for agent in imgbuild cloud-init none; do
    echo "== building the web image with agent=$agent"
    "$IMGBUILD" build "$REPO/recipes/web.rhai" --store store -o "image-$agent" --arg agent=$agent 2>&1 | tail -2
done
ssh-keygen -q -t ed25519 -N "" -C bench@imgbuild -f key
printf 'name,ip,prefix,gateway,dns,ssh_key,role\nbench-vm,10.0.2.15,24,10.0.2.2,10.0.2.3,%s,web\n' "$(cat key.pub)" > fleet.csv
"$IMGBUILD" build "$REPO/examples/fleet.rhai" --store store -o seed --arg inventory="$WORK/fleet.csv" 2>&1 | tail -1

ssh_vm() { # USER PORT COMMAND
    ssh -i key -p "$2" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o BatchMode=yes -o ConnectTimeout=10 -o LogLevel=ERROR "$1@127.0.0.1" "$3"
}
# Sum of the run times, in ms, of the units named.
# (Through sudo for cloud-init's default user: without D-Bus in the image only root
# reaches systemd.)
unit_ms='total=0; for unit in $UNITS; do
  start=$($SUDO systemctl show -p ExecMainStartTimestampMonotonic --value $unit)
  stop=$($SUDO systemctl show -p ExecMainExitTimestampMonotonic --value $unit)
  [ "$start" -gt 0 ] && [ "$stop" -gt 0 ] && total=$((total + (stop - start) / 1000))
done; echo $total'

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit } m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s [%s..%s]", m, v[1], v[NR] }'; }

for agent in ${VARIANTS:-imgbuild cloud-init none}; do
    case $agent in
        imgbuild) user=root; units="imgbuild-first-boot.service imgbuild-first-boot-scripts.service"; prompt="bench-vm login:";;
        cloud-init) user=debian; units="cloud-init-local.service cloud-init.service cloud-config.service cloud-final.service"; prompt="bench-vm login:";;
        none) user=""; units=""; prompt="login:";;
    esac
    for run in $(seq "$RUNS"); do
        port=$((20000 + RANDOM % 20000))
        console="$WORK/console-$agent-$run.log"
        : > "$console"
        start=$(date +%s.%N)
        "$IMGBUILD" boot "$WORK/image-$agent/web.qcow2" --medium "$WORK/seed/bench-vm.iso" \
            --accel tcg --console "$console" --port "$port:22" >/dev/null 2>&1 &
        qemu=$!
        login=""
        for _ in $(seq 3000); do
            if grep -aq "$prompt" "$console"; then
                login=$(awk -v now="$(date +%s.%N)" -v start="$start" 'BEGIN { printf "%.1f", now - start }')
                break
            fi
            sleep 0.2
        done
        agent_ms=-; userspace=-
        if [ -n "$user" ] && [ -n "$login" ]; then
            for _ in $(seq 60); do
                if ssh_vm "$user" "$port" "sudo -n true 2>/dev/null; $( [ "$user" = root ] || echo 'sudo -n ' )systemctl is-system-running --wait >/dev/null 2>&1; true" 2>/dev/null; then break; fi
                sleep 2
            done
            sudo=""; [ "$user" = root ] || sudo="sudo -n"
            agent_ms=$(ssh_vm "$user" "$port" "SUDO='$sudo'; UNITS='$units'; $unit_ms" || echo -)
            userspace=$(ssh_vm "$user" "$port" "$sudo systemd-analyze" | sed -n 's/.*+ \([0-9.]*\)s (userspace).*/\1/p' || echo -)
        fi
        echo "$agent run $run: login ${login:-none} s, agent ${agent_ms} ms, userspace ${userspace} s"
        echo "$agent ${login:-} $agent_ms $userspace" >> results
        pkill -P "$qemu" 2>/dev/null || true
        kill "$qemu" 2>/dev/null || true
        wait "$qemu" 2>/dev/null || true
    done
done

echo
echo "first boot with a NoCloud seed, qemu TCG, 2 vCPUs, 1 GiB, median [min..max] of $RUNS boots"
printf '%-11s %-26s %-30s %s\n' variant "login (s)" "agent work (ms)" "userspace (s)"
for agent in imgbuild cloud-init none; do
    printf '%-11s %-26s %-30s %s\n' "$agent" \
        "$(awk -v a=$agent '$1 == a && $2 != "" { print $2 }' results | median)" \
        "$(awk -v a=$agent '$1 == a && $3 != "-" { print $3 }' results | median)" \
        "$(awk -v a=$agent '$1 == a && $4 != "-" && $4 != "" { print $4 }' results | median)"
done
