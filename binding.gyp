{
  "targets": [
    {
      "target_name": "reaper",
      "sources": ["native/reaper.c"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
