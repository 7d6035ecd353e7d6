// The edge proxy benchmark's baseline: a minimal worker that forwards every
// request to the origin and returns its response.
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.ORIGIN + url.pathname + url.search, request);
  },
};
