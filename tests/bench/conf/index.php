<?php
// The page of the PHP-FPM row: the least a PHP page can do.
header("Content-Type: text/plain");
echo "hello from PHP\n";
