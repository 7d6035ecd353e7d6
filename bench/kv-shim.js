// In-memory stand-in for the KV service behind a workerd `kvNamespace`
// binding (workerd speaks HTTP to it: GET/PUT/DELETE /<key>?urlencoded=true,
// list as GET /?prefix=). Benchmark use only: plain workerd has no KV.
const store = new Map();

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const key = decodeURIComponent(url.pathname.slice(1));
    switch (request.method) {
      case "GET": {
        if (key === "") {
          const prefix = url.searchParams.get("prefix") ?? "";
          const keys = [...store.keys()].filter((k) => k.startsWith(prefix)).sort().map((name) => ({ name }));
          return Response.json({ keys, list_complete: true });
        }
        return store.has(key) ? new Response(store.get(key)) : new Response(null, { status: 404 });
      }
      case "PUT":
        store.set(key, await request.text());
        return new Response(null, { status: 200 });
      case "DELETE":
        store.delete(key);
        return new Response(null, { status: 200 });
      default:
        return new Response(null, { status: 405 });
    }
  },
};
