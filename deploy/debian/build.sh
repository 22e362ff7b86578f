#!/usr/bin/env bash
# Builds the flowmesh-agent Debian package for amd64 or arm64 in one command:
#
#   bash deploy/debian/build.sh [--arch amd64|arm64] [--version 0.1.0-1] [--out DIR]
#   npm run deb -- --arch arm64
#
# The package holds the built agent with the production node_modules for the TARGET
# architecture: prebuilt per-platform packages (@duckdb/node-bindings-linux-<cpu>) are picked
# for it, native addons are compiled for it (cross-compiled for arm64 on an amd64 machine,
# see native_addons below), and every ELF file is checked to be built for it. Depends is
# derived from what those binaries link (libc6, libstdc++6, libpcap) plus Node.js: addons
# built on Node-API work with any Node.js >= 20; an addon tied to one Node.js ABI pins the
# package to the Node.js major version it was built with.
#
# Layout: /usr/lib/flowmesh-agent/{node_modules, agent/{package.json,dist,build|prebuilds}} (the npm workspace
# layout, so module resolution is exactly the development one), /usr/bin/flowmesh-agent,
# /usr/lib/systemd/system/flowmesh-agent.service, /etc/flowmesh/agent.yaml (conffile).
# The maintainer scripts (postinst, prerm, postrm) create the user, the token and the state
# directory; see docs/deploy.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

arch=$(dpkg --print-architecture)
version=""
out="$here/dist"
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="$2"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument '$1' (use --arch, --version, --out)" >&2; exit 2 ;;
  esac
done

case "$arch" in
  amd64) npm_cpu=x64; elf_machine='Advanced Micro Devices X86-64'; gnu_triplet=x86_64-linux-gnu ;;
  arm64) npm_cpu=arm64; elf_machine='AArch64'; gnu_triplet=aarch64-linux-gnu ;;
  *) echo "build.sh: --arch must be amd64 or arm64 (got '$arch')" >&2; exit 2 ;;
esac
host_arch=$(dpkg --print-architecture)
agent_version=$(node -p "require('$repo/agent/package.json').version")
version=${version:-$agent_version-1}
package=flowmesh-agent
started=$(date +%s)

step() { printf '[deb %s %3ss] %s\n' "$arch" "$(( $(date +%s) - started ))" "$*" >&2; }
fail() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/flowmesh-deb-XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
lib="$root/usr/lib/flowmesh-agent"

build_agent() {
  if [ ! -f "$repo/agent/dist/cli.js" ] || [ -n "$(find "$repo/agent/src" -newer "$repo/agent/dist/cli.js" -print -quit)" ]; then
    step "building the agent (npm run build -w agent)"
    (cd "$repo" && npm run build -w agent >&2)
  fi
}

# The agent's production dependencies as the lock file pins them, for the target CPU. npm ci
# needs the root manifests and every workspace's package.json; only the agent's tree is
# installed. Install scripts are run later, for the target (see native_addons).
install_production_modules() {
  step "npm ci --omit=dev for linux/$npm_cpu"
  local npm_dir="$work/npm"
  mkdir -p "$npm_dir"
  cp "$repo/package.json" "$repo/package-lock.json" "$npm_dir/"
  local ws
  for ws in $(node -p "require('$repo/package.json').workspaces.join(' ')"); do
    mkdir -p "$npm_dir/$ws"
    cp "$repo/$ws/package.json" "$npm_dir/$ws/"
  done
  (cd "$npm_dir" && npm ci --omit=dev --workspace agent --os=linux --cpu="$npm_cpu" --libc=glibc \
    --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  rm -rf "$npm_dir/node_modules/@flowmesh" "$npm_dir/node_modules/.package-lock.json"
  local removed
  removed=$(node "$here/prune-modules.js" "$npm_dir")
  [ -z "$removed" ] || step "left out $(wc -l <<<"$removed") packages the agent does not load (other workspaces' share of the lock file)"
}

# Per-platform prebuilt packages (optionalDependencies such as @duckdb/node-bindings-linux-arm64)
# are in the lock file only for the platform it was written on; fetch the target's from the
# registry at the version its parent pins.
add_platform_packages() {
  local npm_dir="$work/npm"
  local wanted
  wanted=$(cd "$npm_dir" && node -e '
    const fs = require("fs"), path = require("path");
    const [cpu] = process.argv.slice(1);
    const manifests = [];
    const walk = (dir) => {
      if (!fs.existsSync(dir)) return;
      for (const name of fs.readdirSync(dir)) {
        if (name.startsWith(".")) continue;
        const p = path.join(dir, name);
        if (name.startsWith("@")) { walk(p); continue; }
        const m = path.join(p, "package.json");
        if (fs.existsSync(m)) manifests.push(JSON.parse(fs.readFileSync(m, "utf8")));
        walk(path.join(p, "node_modules"));
      }
    };
    walk("node_modules");
    const platform = new RegExp(`-linux-${cpu}(-gnu)?$`);
    for (const m of manifests)
      for (const [dep, range] of Object.entries(m.optionalDependencies ?? {}))
        if (platform.test(dep) && !fs.existsSync(path.join("node_modules", dep))) console.log(`${dep}@${range}`);
  ' "$npm_cpu")
  local spec
  for spec in $wanted; do
    step "fetching the prebuilt $spec"
    local name=${spec%@*}
    local tarball
    tarball=$(cd "$work" && npm pack "$spec" --silent)
    mkdir -p "$npm_dir/node_modules/$name"
    tar -xzf "$work/$tarball" -C "$npm_dir/node_modules/$name" --strip-components=1
  done
}

# Native addons compiled from source (a binding.gyp) are built for the target: natively on a
# machine of that architecture, else with Debian's cross compiler (g++-<triplet>) against the
# target's libraries installed through multiarch (dpkg --add-architecture arm64;
# apt-get install g++-aarch64-linux-gnu libpcap0.8-dev:arm64).
native_addons() {
  local npm_dir="$work/npm"
  local gyp_packages
  gyp_packages=$(cd "$npm_dir" && find node_modules -name binding.gyp -not -path '*/node_modules/*/node_modules/*/node_modules/*' \
    -printf '%h\n' | sed 's#^node_modules/##' | sort)
  [ -z "$gyp_packages" ] && return 0
  local env_cross=()
  if [ "$arch" != "$host_arch" ]; then
    command -v "$gnu_triplet-g++" >/dev/null || fail "cross-compiling for $arch needs $gnu_triplet-g++ (apt-get install g++-$gnu_triplet)"
    env_cross=(CC="$gnu_triplet-gcc" CXX="$gnu_triplet-g++" LINK="$gnu_triplet-g++" AR="$gnu_triplet-ar")
  fi
  local pkg
  for pkg in $gyp_packages; do
    step "compiling the native addon $pkg for $arch"
    (cd "$npm_dir" && env "${env_cross[@]}" npm rebuild "$pkg" --arch="$npm_cpu" --loglevel=error >&2) ||
      fail "compiling $pkg for $arch failed (for arm64 on amd64: dpkg --add-architecture arm64, then apt-get install g++-$gnu_triplet and the -dev:$arch packages it links)"
    # keep the compiled addon, not the object files and makefiles
    find "$npm_dir/node_modules/$pkg/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
    find "$npm_dir/node_modules/$pkg/build/Release" -mindepth 1 ! -name '*.node' -exec rm -rf {} +
  done
}

# The agent's own capture addon (agent/native, against libpcap): this machine's build when the
# target is this machine's architecture, else a prebuilt binary cross-compiled for the target
# (agent/native/build.js --arch), which the agent's loader (node-gyp-build) picks there.
agent_addon() {
  local built
  if [ "$arch" = "$host_arch" ]; then
    for built in "$repo"/agent/build/Release/*.node; do
      [ -f "$built" ] || fail "the agent's capture addon is not built (npm run build -w agent)"
      install -D -m 0644 "$built" "$lib/agent/build/Release/$(basename "$built")"
    done
  else
    step "cross-compiling the agent's capture addon for $arch"
    (cd "$repo" && npm run --silent -w agent build-addon -- --arch "$npm_cpu" >&2) ||
      fail "the capture addon for $arch did not build (for arm64 on amd64: dpkg --add-architecture arm64, then apt-get install g++-$gnu_triplet libpcap0.8-dev:arm64)"
    for built in "$repo/agent/prebuilds/linux-$npm_cpu"/*.node; do
      install -D -m 0644 "$built" "$lib/agent/prebuilds/linux-$npm_cpu/$(basename "$built")"
    done
  fi
}

assemble_tree() {
  step "assembling the package tree"
  install -d "$lib/agent" "$root/usr/bin" "$root/usr/lib/systemd/system" "$root/etc/flowmesh" \
    "$root/usr/share/doc/$package/examples"
  cp -a "$work/npm/node_modules" "$lib/node_modules"
  cp "$repo/agent/package.json" "$lib/agent/"
  cp -a "$repo/agent/dist" "$lib/agent/dist"
  find "$lib/agent/dist" -name '*.map' -delete
  install -m 0755 "$here/flowmesh-agent" "$root/usr/bin/flowmesh-agent"
  install -m 0644 "$here/flowmesh-agent.service" "$root/usr/lib/systemd/system/"
  install -m 0644 "$here/agent.yaml" "$root/etc/flowmesh/agent.yaml"
  install -m 0644 "$repo/docs/deploy.md" "$root/usr/share/doc/$package/deploy.md"
  install -m 0644 "$here/copyright" "$root/usr/share/doc/$package/copyright"
  install -m 0644 "$repo/agent/src/config/flowmesh.example.yaml" "$repo/agent/src/inventory/inventory.example.yaml" \
    "$root/usr/share/doc/$package/examples/"
  printf '%s (%s) stable; urgency=medium\n\n  * Built from the Flowmesh repository.\n\n -- Flowmesh <flowmesh@localhost>  %s\n' \
    "$package" "$version" "$(date -R)" | gzip -9n > "$root/usr/share/doc/$package/changelog.Debian.gz"
  chmod -R u+rwX,go+rX,go-w "$lib"
}

# Every ELF file must be for the target; the Debian packages they need, and the Node.js range
# their ABI allows, become Depends.
elf_files() { find "$lib" -type f \( -name '*.node' -o -name '*.so' -o -name '*.so.*' \) -print0; }

check_architecture() {
  local f machine wrong=0
  while IFS= read -r -d '' f; do
    machine=$(readelf -h "$f" 2>/dev/null | sed -n 's/^ *Machine: *//p')
    if [ "$machine" != "$elf_machine" ]; then
      echo "build.sh: ${f#"$lib"/} is built for '${machine:-not ELF}', not $arch ($elf_machine)" >&2
      wrong=1
    fi
  done < <(elf_files)
  [ $wrong -eq 0 ] || fail "native files for the wrong architecture (see above)"
}

# GLIBCXX_3.4.N -> the libstdc++6 (GCC) version that introduced it, from libstdc++'s ABI list.
libstdcxx_for() {
  case "$1" in
    3.4|3.4.[0-9]|3.4.1[0-9]|3.4.20) echo 4.9 ;; 3.4.21) echo 5 ;; 3.4.22) echo 6 ;; 3.4.2[3-4]) echo 7 ;;
    3.4.25) echo 8 ;; 3.4.2[6-7]) echo 9 ;; 3.4.28) echo 10 ;; 3.4.29) echo 11 ;; 3.4.30) echo 12 ;;
    3.4.3[1-2]) echo 13 ;; *) return 1 ;;
  esac
}

compute_depends() {
  local f needed=() own=() glibc=2.17 glibcxx=3.4 abi_tied=() v
  while IFS= read -r -d '' f; do
    own+=("$(basename "$f")")
    mapfile -t -O "${#needed[@]}" needed < <(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    for v in $(readelf -V "$f" | grep -oE 'GLIBC_[0-9.]+' | sed 's/GLIBC_//'); do
      glibc=$(printf '%s\n%s\n' "$glibc" "$v" | sort -V | tail -1)
    done
    for v in $(readelf -V "$f" | grep -oE 'GLIBCXX_[0-9.]+' | sed 's/GLIBCXX_//'); do
      glibcxx=$(printf '%s\n%s\n' "$glibcxx" "$v" | sort -V | tail -1)
    done
    if [ "${f##*.}" = node ] && [ "$(readelf -W --dyn-syms "$f" | grep -c 'napi_register_module_v1')" -eq 0 ]; then
      abi_tied+=("${f#"$lib"/}")
    fi
  done < <(elf_files)

  local node_major
  node_major=$(node -p 'process.versions.node.split(".")[0]')
  local deps=("nodejs (>= 20)")
  if [ ${#abi_tied[@]} -gt 0 ]; then
    step "not Node-API, tied to Node.js $node_major's ABI: ${abi_tied[*]}"
    deps=("nodejs (>= $node_major)" "nodejs (<< $((node_major + 1)))")
  fi
  local soname seen=" "
  for soname in $(printf '%s\n' "${needed[@]}" | sort -u); do
    case " ${own[*]} " in *" $soname "*) continue ;; esac
    case "$soname" in
      libc.so.6|libm.so.6|libpthread.so.0|libdl.so.2|librt.so.1|ld-linux*.so.*) dep="libc6 (>= $glibc)" ;;
      libstdc++.so.6) dep="libstdc++6 (>= $(libstdcxx_for "$glibcxx" || fail "unknown GLIBCXX_$glibcxx: extend libstdcxx_for"))" ;;
      libgcc_s.so.1) dep="libgcc-s1" ;;
      libpcap.so.0.8) dep="libpcap0.8 (>= 1.8) | libpcap0.8t64 (>= 1.8)" ;;
      *) fail "a native file needs $soname, which build.sh does not know the Debian package of" ;;
    esac
    case "$seen" in *"|$dep|"*) continue ;; esac
    seen="$seen|$dep|"
    deps+=("$dep")
  done
  deps+=("adduser")
  depends=$(printf '%s\n' "${deps[@]}" | paste -sd, | sed 's/,/, /g')
}

write_control() {
  step "control files"
  install -d "$root/DEBIAN"
  local size
  size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
  cat > "$root/DEBIAN/control" <<EOF
Package: $package
Version: $version
Architecture: $arch
Maintainer: Flowmesh <flowmesh@localhost>
Installed-Size: $size
Depends: $depends
Recommends: wireguard-tools
Section: net
Priority: optional
Homepage: https://github.com/flowmesh/flowmesh
Description: Flowmesh agent: flow logs for mesh networks, queried from Grafana
 Captures a mesh interface (WireGuard, NetBird, Netmaker, Tailscale/Headscale)
 with libpcap, aggregates packets into bidirectional flows, keeps them in a
 local DuckDB file and serves a structured query API plus Prometheus metrics
 for the Flowmesh Grafana data source. Runs as the unprivileged user flowmesh
 with only CAP_NET_RAW and CAP_NET_ADMIN.
EOF
  echo /etc/flowmesh/agent.yaml > "$root/DEBIAN/conffiles"
  install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$root/DEBIAN/"
  (cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print0 | sort -z \
    | xargs -0 md5sum | sed 's#  \./#  #' > DEBIAN/md5sums)
}

build_agent
install_production_modules
add_platform_packages
native_addons
assemble_tree
agent_addon
check_architecture
compute_depends
write_control
mkdir -p "$out"
deb="$out/${package}_${version}_${arch}.deb"
step "dpkg-deb --build"
# xz -1: about 7 s where the default level takes a minute, for a 10 % larger file
dpkg-deb --build --root-owner-group -Zxz -z1 "$root" "$deb" >/dev/null
printf '%s\n' "$deb"
step "done: $(basename "$deb") ($(du -h "$deb" | cut -f1)); Depends: $depends"
