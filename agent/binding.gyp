# The capture addon (agent/native/capture.cc) against the system libpcap. Built by
# agent/native/build.js (on install, by `npm run build -w agent`, or for another
# architecture by scripts/build-capture-addon.sh), loaded by agent/src/capture/binding.ts.
{
  "targets": [
    {
      "target_name": "flowmesh_capture",
      "sources": ["native/capture.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "libraries": ["-lpcap"]
    }
  ]
}
