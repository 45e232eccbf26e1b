{
  "targets": [
    {
      "target_name": "reaper",
      "sources": ["native/reaper.c"],
      "defines": ["NAPI_VERSION=8"]
    },
    {
      # The command's per-child init. Linked statically where the C library allows it, so that the
      # copy inside the single executable runs on an older glibc than the one it was built on.
      "target_name": "child-init",
      "type": "executable",
      "sources": ["native/child-init.c"],
      "ldflags": ["-s", "<!@(sh -c 'f=$(${CC:-cc} -print-file-name=libc.a); test -f \"$f\" && echo -static || true')"]
    }
  ]
}
