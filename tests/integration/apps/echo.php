<?php
// For the integration tests: what PHP saw of the request ($_SERVER's string
// values, the body's length and sha256) as JSON.
$ctx = hash_init('sha256');
$in = fopen('php://input', 'rb');
$length = 0;
while (!feof($in)) {
    $block = fread($in, 65536);
    if ($block === false) break;
    hash_update($ctx, $block);
    $length += strlen($block);
}
fclose($in);
$server = array();
foreach ($_SERVER as $k => $v) {
    if (is_string($v)) $server[$k] = $v;
}
header('Content-Type: application/json');
echo json_encode(array('server' => $server, 'body_length' => $length,
                       'body_sha256' => hash_final($ctx)), JSON_UNESCAPED_SLASHES);
