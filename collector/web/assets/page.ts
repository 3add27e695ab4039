// The console's one HTML page. It holds no data: everything is fetched with the token after sign-in.
export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>httploop console</title>
<link rel="stylesheet" href="/console.css">
<script src="/console.js" defer></script>
</head>
<body>
<div id="app"><noscript>The httploop console needs JavaScript.</noscript></div>
</body>
</html>
`;
