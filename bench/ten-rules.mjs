// Ten TapConfigs of the kinds teams apply, none of which matches the bench's hello-JSON GET / (200):
// what "ten rules loaded" costs an app whose requests all succeed. Used by the bench servers.
const rules = [
  ['errors', 'responseHeaders[":status"] == prefix("5")'],
  ['api-not-found', 'status == 404 && path == prefix("/api/")'],
  ['slow', 'duration > 2000'],
  ['failed-posts', 'method == "POST" && status >= 400'],
  ['debug-header', 'requestHeaders["x-debug"] in ["1", "true"]'],
  ['admin', 'path == prefix("/admin")'],
  ['xml-answers', 'status >= 400 && responseHeaders["content-type"] == contains("xml")'],
  ['order-errors', 'route == "/orders/:id" && status >= 500'],
  ['curl-errors', 'requestHeaders["user-agent"] == contains("curl") && status >= 500'],
  ['gateway', 'status in [502, 503, 504]'],
];

export const TEN_RULES = rules.map(([name, match]) => ({
  apiVersion: 'httploop/v1',
  kind: 'TapConfig',
  metadata: { name },
  spec: { match },
}));
