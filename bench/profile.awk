# Reads `perf report --stdio --no-children --sort sym -n -q` of the workerd
# thread (one line per function: overhead, samples, [.] or [k], name) and
# prints where a request's time goes, in µs per request: by component, then
# the busiest functions. Variables: hz (perf's sampling rate), n (requests
# served while it sampled), rps, what (the workload's name).
function component(kind, s) {
  if (kind == "[k]") return "kernel (syscalls, file and socket I/O, page faults)"
  if (s ~ /^JS:.*-[0-9]+-(turbofan|liftoff)$/) {
    if (s ~ /dlmalloc|alloc::alloc|__rust_(alloc|dealloc|realloc)|RawVec|finish_grow/) return "wasm: allocator (dlmalloc)"
    if (s ~ /serde_json|serde_core|serde::|serde_path_to_error/) return "wasm: JSON (serde_json)"
    if (s ~ /hmac|sha2|sha256|Sha256|base64|ct_codecs|ed25519|p256|ecdsa|rsa/) return "wasm: crypto and encoding"
    if (s ~ /wasm_bindgen|__wbg|__wbindgen|js_sys|web_sys|worker::/) return "wasm: bindings (wasm-bindgen, worker)"
    return "wasm: ActionGate and other crates"
  }
  if (s ~ /__wbg|__wbindgen|Builtins_(Wasm|JSToWasm|WasmToJs|JSToWasmWrapper)|js-to-wasm|wasm-to-js/) return "JS-wasm boundary (glue, wrappers)"
  if (s ~ /^JS:|^Builtins_|^Builtin:|BytecodeHandler|^Stub:/) return "JavaScript (entry.mjs, glue) and V8 builtins"
  if (s ~ /sqlite3|^wal|^pager|^btree|^vdbe|^unix[A-Z]|Sqlite|SqlStorage|ActorSqlite|^sqlite/) return "SQLite (statements, commit, WAL)"
  if (s ~ /tcmalloc|TCMalloc|^malloc|^free|^cfree|^__libc_(malloc|free|calloc|realloc)|operator new|operator delete/) return "native allocator (tcmalloc)"
  if (s ~ /^__mem|^memcpy|^memmove|^memset|^memcmp|^__str|^str[a-z]+$/) return "libc memory copies and compares"
  if (s ~ /cppgc|GlobalHandles|HeapTracer|TracedHandles|Wrappable|CppgcShim|ExternalEntityTable|Heap::|Scavenge|MarkCompact|Marking|Sweep|Evacuat|ConcurrentMarking|MinorMS|GCTracer/) return "V8 garbage collection and handles"
  if (s ~ /^v8::|^_ZN2v8/) return "V8 runtime (objects, calls)"
  return "workerd (HTTP, RPC, promises, headers)"
}
{
  samples = $2; kind = $3; name = $0; sub(/^[^\]]*\] /, "", name)
  total += samples; c = component(kind, name); by[c] += samples
  if (++lines <= 30) top[lines] = samples "\t" kind "\t" substr(name, 1, 110)
}
END {
  us = 1e6 / hz / n
  printf "%s: %d requests (%s req/s while sampled), workerd thread busy %.0f µs per request (%d samples at %d Hz)\n\n", what, n, rps, total * us, total, hz
  printf "  by component (self time, µs per request):\n"
  cmd = "sort -g -r"
  for (c in by) printf "  %7.1f  %s\n", by[c] * us, c | cmd
  close(cmd)
  printf "\n  busiest functions (µs per request):\n"
  for (i = 1; i <= lines && i <= 30; i++) { split(top[i], f, "\t"); printf "  %7.1f  %s %s\n", f[1] * us, f[2], f[3] }
}
