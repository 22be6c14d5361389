// SCGI client tests live in scgi_server_test.cpp (round trips need both sides).
