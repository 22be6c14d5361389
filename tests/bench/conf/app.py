# The WSGI app of the uWSGI row: the least an application can do.
def application(environ, start_response):
    body = b"hello from WSGI\n"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
