{
  "targets": [
    {
      "target_name": "manifold_native",
      "sources": ["netns.c", "packet.c", "nlsock.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
