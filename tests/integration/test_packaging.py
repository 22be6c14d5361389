"""packaging/: the man pages, the systemd units and the Debian package.

Suite "packaging-docs" (quick, always): the man pages render without a
warning and name every option of --help; the units pass
`systemd-analyze verify` (with the binary under test in ExecStart).

Suite "packaging-deb" (slow, opt-in): builds the .deb with
packaging/build-deb (several minutes on a small machine), installs it with
dpkg on this machine (a throwaway CI machine; root), runs the installed
gatewayd, finds its man page and units, verifies the installed units, then
removes and purges the package. It runs when GW_DEB names an already built
gatewayd_*.deb (tests/run builds it in its own step), or with
GW_PACKAGING=1 (then this suite builds it); otherwise it is skipped. Alone:

    GW_PACKAGING=1 python3 tests/integration/run.py packaging-deb
"""

import glob
import os
import re
import shutil
import subprocess

from support import ROOT, Ctx, Skip, Suite, check, gatewayd_binary

MAN_DIR = os.path.join(ROOT, "packaging", "man")
UNITS_DIR = os.path.join(ROOT, "packaging", "systemd")
UNITS = ["gatewayd.service", "gatewayd.socket", "gatewayd-scgi.socket", "gatewayd-ajp.socket"]
INSTALLED_UNITS_DIR = "/lib/systemd/system"


def run(argv, timeout=60, env=None, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, **kw)


def long_options(help_text):
    return sorted(set(re.findall(r"(?<![\w-])--[a-z0-9][a-z0-9-]*", help_text)))


# ---------------------------------------------------------------------------
# packaging-docs


def docs_setup(ws):
    if not os.access(gatewayd_binary(), os.X_OK):
        raise Skip(f"no gatewayd binary at {gatewayd_binary()}")
    return Ctx(ws)


def client_binary():
    return os.path.join(os.path.dirname(gatewayd_binary()), "client", "gatewayd-client")


def check_renders(page):
    if shutil.which("groff"):
        r = run(["groff", "-man", "-ww", "-z", page])
        check(r.returncode == 0 and r.stderr == "", f"groff -ww on {page}: {r.returncode} {r.stderr.strip()!r}")
    if shutil.which("man"):
        r = run(["man", "--warnings", "-l", page], env=dict(os.environ, MANWIDTH="80"))
        check(r.returncode == 0 and r.stderr == "", f"man --warnings -l {page}: {r.returncode} {r.stderr.strip()!r}")
        check("OPTIONS" in r.stdout, f"man -l {page}: no OPTIONS section in {r.stdout[:200]!r}")


def check_options_documented(binary, page):
    r = run([binary, "--help"])
    check(r.returncode == 0, f"{binary} --help: status {r.returncode}")
    options = long_options(r.stdout)
    check(len(options) > 10, f"only {len(options)} options found in --help")
    with open(page) as f:
        roff = f.read()
    missing = [o for o in options if o.replace("-", "\\-") not in roff]
    check(not missing, f"{os.path.basename(page)} does not describe: {' '.join(missing)}")


def case_gatewayd_man(ctx):
    page = os.path.join(MAN_DIR, "gatewayd.8")
    check_renders(page)
    check_options_documented(gatewayd_binary(), page)
    with open(page) as f:
        roff = f.read()
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT", "SIGNALS", "FILES", "EXIT STATUS",
                    "EXAMPLES", "SEE ALSO"):
        check(f".SH {section}\n" in roff, f"gatewayd.8 has no {section} section")
    for signal in ("SIGHUP", "SIGQUIT", "SIGTERM", "SIGINT", "SIGUSR1"):
        check(signal in roff, f"gatewayd.8 does not mention {signal}")


def case_client_man(ctx):
    page = os.path.join(MAN_DIR, "gatewayd-client.1")
    check_renders(page)
    if not os.access(client_binary(), os.X_OK):
        raise Skip(f"no gatewayd-client at {client_binary()}")
    check_options_documented(client_binary(), page)


def case_units_verify(ctx):
    """systemd-analyze verify, with ExecStart pointing at the binary under
    test and the man page where `man` finds it (Documentation=)."""
    if not shutil.which("systemd-analyze"):
        raise Skip("systemd-analyze not installed (Debian package systemd)")
    units = ctx.ws.mkdir("units")
    man8 = ctx.ws.mkdir("man", "man8")
    shutil.copy(os.path.join(MAN_DIR, "gatewayd.8"), man8)
    for name in UNITS:
        with open(os.path.join(UNITS_DIR, name)) as f:
            text = f.read()
        check("/usr/sbin/gatewayd" in text or not name.endswith(".service"), f"{name}: no /usr/sbin/gatewayd")
        with open(os.path.join(units, name), "w") as f:
            f.write(text.replace("/usr/sbin/gatewayd", gatewayd_binary()))
    r = run(["systemd-analyze", "verify"] + [os.path.join(units, n) for n in UNITS],
            env=dict(os.environ, MANPATH=ctx.ws.path("man")))
    check(r.returncode == 0 and not r.stderr.strip(), f"systemd-analyze verify: {r.returncode} {r.stderr.strip()!r}")


def case_unit_settings(ctx):
    """What the service promises (gatewayd(8)): notify, reload by SIGHUP,
    graceful stop by SIGQUIT with time for graceful_timeout; each socket
    unit names its sockets after their protocol."""
    with open(os.path.join(UNITS_DIR, "gatewayd.service")) as f:
        service = f.read()
    for line in ("Type=notify", "ExecStart=/usr/sbin/gatewayd --config /etc/gatewayd/gatewayd.json",
                 "ExecReload=/bin/kill -HUP $MAINPID", "KillSignal=SIGQUIT", "NoNewPrivileges=yes",
                 "ProtectSystem=full", "PrivateTmp=yes", "RuntimeDirectory=gatewayd"):
        check(f"\n{line}\n" in service, f"gatewayd.service lacks {line!r}")
    stop = int(re.search(r"\nTimeoutStopSec=(\d+)\n", service).group(1))
    check(stop > 30, f"TimeoutStopSec={stop} does not leave gatewayd its 30 s graceful timeout")
    for unit, name in (("gatewayd.socket", "fcgi"), ("gatewayd-scgi.socket", "scgi"), ("gatewayd-ajp.socket", "ajp")):
        with open(os.path.join(UNITS_DIR, unit)) as f:
            text = f.read()
        check(f"\nFileDescriptorName={name}\n" in text, f"{unit}: FileDescriptorName is not {name}")
        check("\nService=gatewayd.service\n" in text, f"{unit}: not for gatewayd.service")


# ---------------------------------------------------------------------------
# packaging-deb


def deb_setup(ws):
    if os.geteuid() != 0:
        raise Skip("installs a package: needs root")
    given = os.environ.get("GW_DEB")
    if not given and os.environ.get("GW_PACKAGING") != "1":
        raise Skip("slow: set GW_PACKAGING=1 to build the .deb here, or GW_DEB=path/to/gatewayd_*.deb")
    for tool in ("dpkg", "dpkg-deb"):
        if not shutil.which(tool):
            raise Skip(f"{tool} not installed")
    return Ctx(ws, deb=os.path.abspath(given) if given else None, installed=False)


def case_build(ctx):
    if ctx.deb:
        check(os.path.isfile(ctx.deb), f"GW_DEB={ctx.deb}: no such file")
        return
    out = ctx.ws.mkdir("deb")
    r = run([os.path.join(ROOT, "packaging", "build-deb"), out], timeout=1500)
    check(r.returncode == 0, f"packaging/build-deb: status {r.returncode}: {r.stderr.strip()[-1500:]}")
    debs = [d for d in glob.glob(os.path.join(out, "gatewayd_*.deb"))]
    check(len(debs) == 1, f"want one gatewayd_*.deb in {out}, found {debs} ({r.stdout.strip()!r})")
    ctx.deb = debs[0]


def need_deb(ctx):
    if not ctx.deb:
        raise Skip("no .deb (the build failed)")


def case_contents(ctx):
    need_deb(ctx)
    r = run(["dpkg-deb", "-c", ctx.deb])
    check(r.returncode == 0, f"dpkg-deb -c: {r.stderr.strip()}")
    paths = {line.split()[-1].lstrip(".") for line in r.stdout.splitlines() if line.strip()}
    want = ["/usr/sbin/gatewayd", "/usr/bin/gatewayd-client", "/etc/gatewayd/gatewayd.json",
            "/usr/share/man/man8/gatewayd.8.gz", "/usr/share/man/man1/gatewayd-client.1.gz",
            "/usr/share/doc/gatewayd/copyright", "/usr/share/doc/gatewayd/examples/nginx-fastcgi.conf",
            "/usr/share/doc/gatewayd/examples/demo/echo/project.json", "/var/lib/gatewayd/projects/"]
    want += [f"{INSTALLED_UNITS_DIR}/{u}" for u in UNITS]
    missing = [p for p in want if p not in paths]
    check(not missing, f"the package lacks {missing}")
    conffiles = run(["sh", "-c", f"dpkg-deb --ctrl-tarfile '{ctx.deb}' | tar -xO ./conffiles"]).stdout.split()
    check(conffiles == ["/etc/gatewayd/gatewayd.json"], f"conffiles {conffiles}")


def case_install(ctx):
    need_deb(ctx)
    r = run(["dpkg", "-i", ctx.deb], timeout=120, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    check(r.returncode == 0, f"dpkg -i: status {r.returncode}: {(r.stdout + r.stderr).strip()[-1500:]}")
    ctx.installed = True
    r = run(["dpkg-query", "-W", "-f=${Status} ${Version}", "gatewayd"])
    version = run(["dpkg-deb", "-f", ctx.deb, "Version"]).stdout.strip()
    check(r.stdout == f"install ok installed {version}", f"dpkg-query: {r.stdout!r}")


def need_installed(ctx):
    if not ctx.installed:
        raise Skip("the package is not installed")


def case_version(ctx):
    need_installed(ctx)
    version = run(["dpkg-deb", "-f", ctx.deb, "Version"]).stdout.strip()
    r = run(["/usr/sbin/gatewayd", "--version"])
    check(r.returncode == 0 and r.stdout == f"gatewayd {version}\n",
          f"/usr/sbin/gatewayd --version: status {r.returncode}, {r.stdout!r} (package {version})")
    r = run(["/usr/bin/gatewayd-client", "--version"])
    check(r.returncode == 0 and version in r.stdout, f"gatewayd-client --version: {r.returncode} {r.stdout!r}")


def case_man(ctx):
    need_installed(ctx)
    for name, path in (("gatewayd", "/usr/share/man/man8/gatewayd.8.gz"),
                       ("gatewayd-client", "/usr/share/man/man1/gatewayd-client.1.gz")):
        r = run(["man", "-w", name])
        check(r.returncode == 0 and r.stdout.strip() == path, f"man -w {name}: {r.returncode} {r.stdout!r}")
        r = run(["man", "--warnings", name], env=dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat"))
        check(r.returncode == 0 and r.stderr == "" and "SYNOPSIS" in r.stdout, f"man {name}: {r.stderr!r}")


def case_installed_units(ctx):
    need_installed(ctx)
    for unit in UNITS:
        path = os.path.join(INSTALLED_UNITS_DIR, unit)
        check(os.path.isfile(path), f"{path} not installed")
        with open(path) as f, open(os.path.join(UNITS_DIR, unit)) as g:
            check(f.read() == g.read(), f"{path} differs from packaging/systemd/{unit}")
    if not shutil.which("systemd-analyze"):
        raise Skip("systemd-analyze not installed")
    r = run(["systemd-analyze", "verify"] + [os.path.join(INSTALLED_UNITS_DIR, u) for u in UNITS])
    check(r.returncode == 0 and not r.stderr.strip(), f"systemd-analyze verify: {r.returncode} {r.stderr.strip()!r}")


def case_installed_config(ctx):
    """The packaged configuration is valid as installed."""
    need_installed(ctx)
    r = run(["/usr/sbin/gatewayd", "--check-config", "--config", "/etc/gatewayd/gatewayd.json"])
    check(r.returncode == 0 and "configuration OK" in r.stdout,
          f"--check-config of /etc/gatewayd/gatewayd.json: {r.returncode} {r.stdout!r} {r.stderr!r}")


def case_remove(ctx):
    need_installed(ctx)
    r = run(["dpkg", "-r", "gatewayd"], timeout=120)
    check(r.returncode == 0, f"dpkg -r: {(r.stdout + r.stderr).strip()[-800:]}")
    ctx.installed = False
    check(not os.path.exists("/usr/sbin/gatewayd"), "/usr/sbin/gatewayd is still there after dpkg -r")
    check(os.path.exists("/etc/gatewayd/gatewayd.json"), "dpkg -r removed the conffile (only purge should)")
    r = run(["dpkg", "-P", "gatewayd"], timeout=120)
    check(r.returncode == 0, f"dpkg -P: {(r.stdout + r.stderr).strip()[-800:]}")
    check(not os.path.exists("/etc/gatewayd/gatewayd.json"), "dpkg -P left /etc/gatewayd/gatewayd.json")


def suites():
    return [
        Suite("packaging-docs", docs_setup, [
            ("gatewayd-8", case_gatewayd_man, 30),
            ("gatewayd-client-1", case_client_man, 30),
            ("unit-settings", case_unit_settings, 10),
            ("units-verify", case_units_verify, 60),
        ]),
        Suite("packaging-deb", deb_setup, [
            ("build", case_build, 1500),
            ("contents", case_contents, 30),
            ("install", case_install, 120),
            ("version", case_version, 30),
            ("man", case_man, 30),
            ("units", case_installed_units, 60),
            ("config", case_installed_config, 30),
            ("remove", case_remove, 120),
        ]),
    ]
