# Sourced by the bench scripts: say how busy the machine is before figures are measured on it.
# print_load_average: the date, the cores and the 1-minute load average, with a warning above 0.5
# (another process is using the machine, so the figures are not quiet-machine figures).
print_load_average() {
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, 1-minute load average $load"
  if python3 -c "import sys; sys.exit(not $load > 0.5)"; then
    echo "WARNING: load average $load > 0.5: another process is using the machine; figures are not quiet-machine figures"
  fi
}
