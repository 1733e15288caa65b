# shellcheck shell=bash
# Private apt state for kernel packages, sourced by ci/setup.sh and
# ci/selftests.sh (not run on its own).  Its own sources list (sid and
# trixie-backports), lists, status and cache under $AQ_CACHE/apt: the host's
# apt configuration is neither read nor changed, and packages fetched through
# it are only downloaded and unpacked, never installed.
#
# Needs AQ_CACHE and a log function.  After private_apt_init, pass
# "${apt_opts[@]}" to apt-get / apt-cache.

apt_root=$AQ_CACHE/apt
apt_opts=()
private_apt_init() {
  mkdir -p "$apt_root"/{lists/partial,archives/partial,etc/preferences.d,etc/apt.conf.d} "$apt_root/state"
  cat > "$apt_root/etc/sources.list" <<SRC
deb http://deb.debian.org/debian sid main
deb http://deb.debian.org/debian trixie-backports main
SRC
  touch "$apt_root/state/status"
  apt_opts=(
    -o Dir::Etc::SourceList="$apt_root/etc/sources.list"
    -o Dir::Etc::SourceParts=/nonexistent
    -o Dir::Etc::Preferences="$apt_root/etc/preferences"
    -o Dir::Etc::PreferencesParts="$apt_root/etc/preferences.d"
    -o Dir::State="$apt_root/state"
    -o Dir::State::Lists="$apt_root/lists"
    -o Dir::State::status="$apt_root/state/status"
    -o Dir::Cache="$apt_root/cache"
    -o Dir::Cache::Archives="$apt_root/archives"
    -o APT::Architecture=amd64
    -o Debug::NoLocking=1
  )
  mkdir -p "$apt_root/cache"
  # Refresh the lists at most once a day: the kernel choice is recorded anyway.
  if [ -z "$(find "$apt_root/lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
    log "refreshing private apt lists (sid, trixie-backports)"
    apt-get "${apt_opts[@]}" update -qq
  fi
}
