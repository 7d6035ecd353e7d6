// The comparison baseline: a minimal worker that answers every request at
// once with a small JSON body, so the figures show the runtime's own cost.
export default {
  fetch() {
    return new Response('{"ok":true}', { headers: { "Content-Type": "application/json" } });
  },
};
