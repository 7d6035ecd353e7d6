// A stand-in origin for the edge proxy benchmark: answers every request
// with a small JSON body, as a fast app endpoint would.
export default {
  fetch(request) {
    return new Response(JSON.stringify({ ok: true, path: new URL(request.url).pathname }), {
      headers: { "Content-Type": "application/json" },
    });
  },
};
