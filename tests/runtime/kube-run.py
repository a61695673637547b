#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""
kube-run.py SRCDIR BUILDDIR - the runtime suite: the SHIPPED Kubernetes
examples (deploy/kubernetes/*.yaml) run in a real OCI runtime, Debian's
podman with runc, with images built here from the build tree.

podman 4.3's "kube play" cannot run them: it ignores hostPID (the broker
would not see the launchers' pids), refuses ConfigMaps next to a DaemonSet
and knows no DaemonSet.  So this script reads the YAML itself and turns each
field it knows into the podman option that does the same; a field it does
not know stops the test (nothing is silently dropped).  Pods get the
layout of kubelet's cgroupfs driver (/kubepods/besteffort/pod.../<ctr>, the
pause container a sibling of the others) and private cgroup namespaces (the
Kubernetes default on cgroup v2).  runc, because crun 1.8 refuses this
machine's hybrid cgroup layout.  No registry is reachable: the images are
imported from a root file system made of the build tree and this host's
QEMU and libraries (tests/runtime/image-root.sh; about 60 MB, rebuilt each
run in a second or two, podman's store cached under
/var/cache/delegate-tests/runtime/).  The hostPath /run/delegate becomes a
directory private to this run, so that concurrent runs do not meet.

What a node must provide beyond the manifests (README, "Deploy on
Kubernetes") is provided here the way a node would: /dev/kvm as the KubeVirt
device plugin hands it over (--device; the pod's uid is not in the kvm
group, so the spec's "accel": "auto" falls back to TCG; on a host without
/dev/kvm, where a device plugin would offer none and the pod would stay
Pending, the pod runs without the device and the output says so), and, where the
kernel has RT group scheduling, a realtime budget given by an OCI prestart
hook (tests/runtime/rt-budget-hook.py) to containers of pods annotated
delegate.example/rt-runtime-us, as the VM pod is.  The first VM pod runs
without the hook to show the RT-budget error.  One thing this machine
cannot give at all: CAP_SYS_RESOURCE is not in its bounding set, so no hard
RLIMIT_MEMLOCK raise is possible and the spec's "mem_lock" (1G locked) is
replaced by a soft raise, which the output says.

From the host it asserts, reading the kernel: the launcher is PID 1 of its
container and QEMU runs; the broker's session names the launcher's real
runtime cgroup; br0, eth0 and vnet0 are in the VM container's network
namespace and not in the host's or the broker's; QEMU's non-vCPU threads are
in housekeeping below the container's cgroup; vCPU 1 is SCHED_FIFO; kill -9
of the VM container and of the broker container, in both orders and with
the launcher dying while the broker is down, leave no TAP, bridge,
housekeeping cgroup or state file, and eth0 gets its address back.
Output is TAP.
"""
import fcntl
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

import yaml

SRC, BUILD = sys.argv[1], sys.argv[2]
TAG = "rt%d" % os.getpid()
WORK = "/run/delegate-test-runtime-%d" % os.getpid()
CACHE = "/var/cache/delegate-tests/runtime"
SOCKDIR = WORK + "/run-delegate"  # stands for the hostPath /run/delegate
PAUSE_IMAGE = "localhost/delegate-test-pause:" + TAG
RT_ANNOTATION = "delegate.example/rt-runtime-us"

n_test = 0
n_failed = 0


def ok(cond, desc):
    global n_test, n_failed
    n_test += 1
    if not cond:
        n_failed += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n_test, desc), flush=True)
    return cond


def diag(text):
    for line in str(text).splitlines():
        print("# " + line, flush=True)


def skip_all(why):
    print("1..0 # SKIP " + why, flush=True)
    sys.exit(77)


def bail(why):
    print("Bail out! " + why, flush=True)
    cleanup()
    sys.exit(1)


def sh(cmd, check=False, timeout=120):
    r = subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        bail("%s failed (%d): %s" % (cmd, r.returncode, r.stderr.strip()))
    return r


# podman's store is cached; its database pins the runroot and the tmpdir, so those are fixed
# too, and a lock (taken in main) keeps two runs of this suite from sharing them at once
RUNROOT = "/run/delegate-test-runtime/runroot"
PODMAN = ["podman", "--root", CACHE + "/storage", "--runroot", RUNROOT, "--runtime", "runc",
          "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--tmpdir", "/run/delegate-test-runtime/tmp"]


def podman(*args, check=True, timeout=120):
    return sh(PODMAN + list(args), check=check, timeout=timeout)


def wait_for(fn, timeout_s, step=0.2):
    end = time.monotonic() + timeout_s
    while True:
        v = fn()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


# --- the YAML, field by field ---------------------------------------------

class Unsupported(Exception):
    pass


def known(obj, keys, where):
    for k in obj:
        if k not in keys:
            raise Unsupported("%s: field '%s' is not translated by this test" % (where, k))


def read_manifests(path):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    configmaps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    pods = []
    for d in docs:
        if d["kind"] in ("ConfigMap", "Namespace"):
            continue
        if d["kind"] == "DaemonSet":
            known(d["spec"], {"selector", "template"}, "DaemonSet.spec")
            tmpl = d["spec"]["template"]
            pods.append((d["metadata"]["name"], tmpl.get("metadata", {}), tmpl["spec"]))
        elif d["kind"] == "Pod":
            pods.append((d["metadata"]["name"], d["metadata"], d["spec"]))
        else:
            raise Unsupported("%s: kind %s" % (path, d["kind"]))
    return configmaps, pods


def no_sys_resource():
    """Is CAP_SYS_RESOURCE missing from this machine's bounding set (runc cannot grant it)?"""
    m = re.search(r"^CapBnd:\s*([0-9a-f]+)", read("/proc/self/status"), re.M)
    return m is not None and not (int(m.group(1), 16) >> 24) & 1


def adapt_spec(text):
    """Without CAP_SYS_RESOURCE anywhere, a hard RLIMIT_MEMLOCK cannot be raised: a VM that locks
    its RAM cannot start.  Keep everything else of the shipped spec; ask a soft raise instead."""
    spec = json.loads(text)
    hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]
    spec["mem_lock"] = False
    spec["memlock"] = hard // 2
    diag("CAP_SYS_RESOURCE is not in this machine's bounding set: the spec's mem_lock (1G locked) cannot "
         "be granted here; the test asks memlock %d bytes (a soft raise) instead" % (hard // 2))
    return json.dumps(spec)


def configmap_dir(configmaps, name):
    d = "%s/configmaps/%s" % (WORK, name)
    if not os.path.isdir(d):
        os.makedirs(d)
        for key, text in configmaps[name]["data"].items():
            if key == "spec.json" and no_sys_resource() and json.loads(text).get("mem_lock"):
                text = adapt_spec(text)
            with open(os.path.join(d, key), "w") as f:
                f.write(text)
    return d


# Pod Security Standards (kubernetes.io/docs/concepts/security/pod-security-standards), the
# rules these manifests touch: which levels does a pod spec meet?
BASELINE_CAPS = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
                 "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}


def pss_violations(spec):
    base, restr = [], []
    for k in ("hostPID", "hostIPC", "hostNetwork"):
        if spec.get(k):
            base.append(k)
    for v in spec.get("volumes", []):
        kind = [k for k in v if k != "name"][0]
        if kind == "hostPath":
            base.append("hostPath volume '%s'" % v["name"])
        elif kind not in RESTRICTED_VOLUMES:
            restr.append("volume type %s" % kind)
    psc = spec.get("securityContext", {})
    for c in spec["containers"]:
        csc = c.get("securityContext", {})
        caps = csc.get("capabilities", {})
        if csc.get("privileged"):
            base.append("privileged")
        extra = set(caps.get("add", [])) - BASELINE_CAPS
        if extra:
            base.append("capabilities %s" % sorted(extra))
        if not (csc.get("runAsNonRoot", psc.get("runAsNonRoot")) or csc.get("runAsUser", psc.get("runAsUser"))):
            restr.append("runAsNonRoot")
        if csc.get("allowPrivilegeEscalation") is not False:
            restr.append("allowPrivilegeEscalation")
        if "ALL" not in caps.get("drop", []) or set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            restr.append("capabilities")
        prof = csc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
        if prof not in ("RuntimeDefault", "Localhost"):
            restr.append("seccompProfile")
    return base, restr


def pod_create(name, meta, spec, configmaps, hostpaths):
    """podman pod + containers for one pod spec; returns (pod name, {container: podman name})."""
    known(spec, {"hostPID", "securityContext", "containers", "volumes"}, name + ".spec")
    known(meta, {"name", "namespace", "labels", "annotations"}, name + ".metadata")
    psc = spec.get("securityContext", {})
    known(psc, {"runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile", "supplementalGroups"},
          name + ".securityContext")
    pod = "%s-%s" % (name, TAG)
    cgparent = "/kubepods/besteffort/pod" + pod  # kubelet's cgroupfs driver layout
    args = ["pod", "create", "--name", pod, "--infra-image", PAUSE_IMAGE, "--cgroup-parent", cgparent]
    for k, v in meta.get("labels", {}).items():
        args += ["--label", "%s=%s" % (k, v)]
    podman(*args)
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    names = {}
    for c in spec["containers"]:
        known(c, {"name", "image", "args", "env", "securityContext", "volumeMounts", "resources"},
              "%s.%s" % (name, c["name"]))
        cname = "%s-%s" % (pod, c["name"])
        a = ["create", "--pod", pod, "--name", cname, "--cgroupns", "private", "--stop-timeout", "2",
             "--read-only-tmpfs=false", "--log-driver", "k8s-file"]
        for k, v in meta.get("annotations", {}).items():
            a += ["--annotation", "%s=%s" % (k, v)]
        if spec.get("hostPID"):
            a += ["--pid", "host"]
        csc = c.get("securityContext", {})
        known(csc, {"runAsUser", "runAsGroup", "allowPrivilegeEscalation", "readOnlyRootFilesystem", "capabilities"},
              cname + ".securityContext")
        uid = csc.get("runAsUser", psc.get("runAsUser"))
        gid = csc.get("runAsGroup", psc.get("runAsGroup", 0))
        if psc.get("runAsNonRoot") and not uid:
            raise Unsupported("%s: runAsNonRoot without a non-zero runAsUser" % cname)
        if uid is not None:
            a += ["--user", "%d:%d" % (uid, gid)]
        for g in psc.get("supplementalGroups", []):
            a += ["--group-add", str(g)]
        prof = psc.get("seccompProfile", {}).get("type", "RuntimeDefault")
        if prof == "Unconfined":
            a += ["--security-opt", "seccomp=unconfined"]
        elif prof != "RuntimeDefault":
            raise Unsupported("%s: seccompProfile %s" % (cname, prof))
        if csc.get("allowPrivilegeEscalation") is False:
            a += ["--security-opt", "no-new-privileges"]
        if csc.get("readOnlyRootFilesystem"):
            a += ["--read-only"]
        caps = csc.get("capabilities", {})
        known(caps, {"drop", "add"}, cname + ".capabilities")
        for cap in caps.get("drop", []):
            a += ["--cap-drop", cap.lower()]
        for cap in caps.get("add", []):
            a += ["--cap-add", cap.lower()]
        for e in c.get("env", []):
            a += ["--env", "%s=%s" % (e["name"], e["value"])]
        for m in c.get("volumeMounts", []):
            v = volumes[m["name"]]
            ro = ":ro" if m.get("readOnly") else ""
            if "hostPath" in v:
                hp = v["hostPath"]
                path = hostpaths.get(hp["path"], hp["path"])
                t = hp.get("type", "")
                if t == "DirectoryOrCreate":
                    os.makedirs(path, exist_ok=True)
                elif t == "Directory" and not os.path.isdir(path):
                    raise Unsupported("%s: hostPath %s is not a directory" % (cname, path))
                elif t == "CharDevice" and not os.path.exists(path):
                    raise Unsupported("%s: hostPath %s does not exist" % (cname, path))
                a += ["--volume", "%s:%s%s" % (path, m["mountPath"], ro)]
            elif "configMap" in v:
                a += ["--volume", "%s:%s:ro" % (configmap_dir(configmaps, v["configMap"]["name"]), m["mountPath"])]
            else:
                raise Unsupported("%s: volume %s" % (cname, v))
        res = c.get("resources", {})
        known(res, {"requests", "limits"}, cname + ".resources")
        for k, val in res.get("limits", {}).items():
            if k == "memory":
                a += ["--memory", str(val).replace("Mi", "m").replace("Gi", "g")]
            elif k == "devices.kubevirt.io/kvm":
                if os.path.exists("/dev/kvm"):
                    a += ["--device", "/dev/kvm"]  # what KubeVirt's device plugin hands over
                else:
                    # a device plugin would offer no such device and the pod would stay Pending
                    print("# this node has no /dev/kvm: a KubeVirt device plugin would offer no %s, and the "
                          "pod would not be scheduled; %s runs without the device (its spec's accel \"auto\" "
                          "gives TCG either way, see below)" % (k, cname), flush=True)
            elif k != "cpu":
                raise Unsupported("%s: resource limit %s" % (cname, k))
        a.append(c["image"])
        a += [str(x) for x in c.get("args", [])]
        podman(*a)
        names[c["name"]] = cname
    return pod, names


# --- the host's view --------------------------------------------------------

def ctr_pid(cname):
    r = podman("inspect", cname, "--format", "{{.State.Pid}}", check=False)
    try:
        return int(r.stdout.strip())
    except ValueError:
        return 0


def logs(cname):
    r = podman("logs", cname, check=False)
    return r.stdout + r.stderr


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def cgroup_of(pid, tid=None):
    p = "/proc/%d/task/%d/cgroup" % (pid, tid) if tid else "/proc/%d/cgroup" % pid
    for line in read(p).splitlines():
        if line.startswith("0::"):
            return line[3:]
    return None


def nspid(pid):
    m = re.search(r"^NSpid:\s*(.*)$", read("/proc/%d/status" % pid), re.M)
    return [int(x) for x in m.group(1).split()] if m else []


def children(pid):
    out = []
    for t in os.listdir("/proc/%d/task" % pid) if os.path.isdir("/proc/%d/task" % pid) else []:
        out += [int(x) for x in read("/proc/%d/task/%s/children" % (pid, t)).split()]
    return out


def links(pid=None):
    """{name: link json} in the netns of @pid (None: the host's)."""
    cmd = ["ip", "-d", "-j", "link", "show"]
    if pid:
        cmd = ["nsenter", "-t", str(pid), "-n"] + cmd
    r = sh(cmd)
    try:
        return {l["ifname"]: l for l in json.loads(r.stdout or "[]")}
    except ValueError:
        return {}


def addrs(pid, dev):
    r = sh(["nsenter", "-t", str(pid), "-n", "ip", "-o", "addr", "show", "dev", dev])
    return r.stdout


def unified_root():
    for line in read("/proc/self/mountinfo").splitlines():
        if " - cgroup2 " in line:
            return line.split()[4]
    return None


UNIFIED = unified_root()


def state_files():
    d = SOCKDIR + "/state"
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


# --- set-up -----------------------------------------------------------------

def build_images(images):
    """The root file system from the build tree; one image per entrypoint the manifests need."""
    root = WORK + "/rootfs"
    sh([SRC + "/tests/runtime/image-root.sh", root, BUILD], check=True, timeout=300)
    tar = WORK + "/rootfs.tar"
    sh(["tar", "-C", root, "-cf", tar, "."], check=True, timeout=300)
    for name, entry in images.items():
        podman("import", "--quiet", "--change", "ENTRYPOINT " + json.dumps(entry), tar, name, timeout=300)
    podman("import", "--quiet", "--change", 'ENTRYPOINT ["/bin/sleep", "infinity"]', tar, PAUSE_IMAGE, timeout=300)
    os.unlink(tar)
    shutil.rmtree(root, ignore_errors=True)


def containers_conf(hooks):
    # runc refuses to raise rlimits here (CAP_SYS_RESOURCE is not in the bounding set): give
    # containers this shell's own open-files limit and a low process limit instead of podman's
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    with open(WORK + "/containers.conf", "w") as f:
        f.write("[containers]\ndefault_ulimits = [\"nofile=%d:%d\", \"nproc=4096:4096\"]\n" % nofile)
        f.write("[engine]\ninfra_image = \"%s\"\n" % PAUSE_IMAGE)
        if hooks:
            f.write("hooks_dir = [\"%s\"]\n" % (WORK + "/hooks"))
    os.environ["CONTAINERS_CONF"] = WORK + "/containers.conf"


def install_rt_hook():
    os.makedirs(WORK + "/hooks", exist_ok=True)
    with open(WORK + "/hooks/delegate-rt-budget.json", "w") as f:
        json.dump({"version": "1.0.0", "hook": {"path": SRC + "/tests/runtime/rt-budget-hook.py"},
                   "when": {"annotations": {RT_ANNOTATION: ".*"}}, "stages": ["prestart"]}, f)
    containers_conf(hooks=True)


pods_made = []
links_before = set()


def play(path, hostpaths):
    configmaps, pods = read_manifests(path)
    made = []
    for name, meta, spec in pods:
        pod, names = pod_create(name, meta, spec, configmaps, hostpaths)
        pods_made.append(pod)
        podman("pod", "start", pod)
        made.append((pod, names))
    return made


def rm_cgroups(prefix):
    """The cgroups podman made below /kubepods/besteffort/@prefix*, in every hierarchy (it leaves them);
    how many could not be removed."""
    left = 0
    for line in read("/proc/self/mountinfo").splitlines():
        if " - cgroup" not in line:
            continue
        base = line.split()[4] + "/kubepods/besteffort"
        if not os.path.isdir(base):
            continue
        dirs = [os.path.join(dp, x) for dp, dn, _ in os.walk(base) for x in dn]
        for d in sorted((d for d in dirs if d[len(base) + 1:].startswith(prefix)), key=len, reverse=True):
            try:
                # give a realtime budget back first: a removed cgroup's lingers in the kernel for a while
                # and would count against its parent's (the next pod's budget would not fit)
                if os.path.exists(d + "/cpu.rt_runtime_us"):
                    with open(d + "/cpu.rt_runtime_us", "w") as f:
                        f.write("0")
                os.rmdir(d)
            except OSError:
                left += 1
        for d in (base, os.path.dirname(base)):  # /kubepods/besteffort, /kubepods when nobody else uses them
            try:
                os.rmdir(d)
            except OSError:
                pass
    return left


def pod_rm(pod):
    podman("pod", "rm", "--force", "--time", "0", pod, check=False)
    if pod in pods_made:
        pods_made.remove(pod)
        # the pod's cgroups empty once its processes are reaped: remove them (with their budgets)
        wait_for(lambda: rm_cgroups("pod" + pod) == 0, 10)


def cleanup():
    for pod in list(pods_made):
        pod_rm(pod)
    podman("rmi", "--force", PAUSE_IMAGE, check=False)
    podman("image", "prune", "--force", check=False)  # the previous runs' images, untagged by this one
    rm_cgroups("pod" + TAG)
    # the bridge podman made for its default network, when this run made it and nothing is on it
    now = links()
    for name in set(now) - links_before:
        if name.startswith("cni-podman") and not any(l.get("master") == name for l in now.values()):
            sh(["ip", "link", "del", name])
    shutil.rmtree(WORK, ignore_errors=True)
    shutil.rmtree(os.path.dirname(RUNROOT), ignore_errors=True)  # podman makes it again next time


# --- the scenarios -------------------------------------------------------------

def start_broker():
    (pod, names), = play(SRC + "/deploy/kubernetes/delegate-broker-daemonset.yaml", {"/run/delegate": SOCKDIR})
    cname = names["broker"]
    up = wait_for(lambda: os.path.exists(SOCKDIR + "/broker.sock") and "listening on" in logs(cname), 30)
    if not ok(up, "the broker DaemonSet's pod runs and listens on the hostPath socket"):
        diag(logs(cname))
    return pod, cname


def start_vm():
    (pod, names), = play(SRC + "/deploy/kubernetes/vm-pod.yaml", {"/run/delegate": SOCKDIR})
    return pod, names["launcher"]


def vm_parts(cname):
    """(launcher pid, QEMU pid, container cgroup) from the host."""
    lp = ctr_pid(cname)
    q = [p for p in children(lp) if read("/proc/%d/comm" % p).startswith("qemu-system")] if lp else []
    return lp, (q[0] if q else 0), (cgroup_of(lp) if lp else None)


def check_vm(cname, broker_cname, with_rt):
    running = wait_for(lambda: "guest running" in logs(cname), 90, 0.5)
    if not ok(running, "the VM pod's launcher reports the guest running"):
        diag(logs(cname))
        diag(logs(broker_cname))
        return None
    lp, q, cg = vm_parts(cname)
    ok(lp > 0 and nspid(lp)[-1:] == [1], "the launcher is PID 1 of its container (NSpid %s)" % nspid(lp))
    acc = re.search(r"accel (\w+) \(([^)]*\)?)\)", logs(cname))
    ok(acc is not None, "the spec's accel \"auto\" picked %s (%s)" % (acc.group(1), acc.group(2)) if acc
       else "the launcher says which accelerator it picked")
    ok(q > 0 and len(nspid(q)) == 2, "QEMU runs as its child (host pid %d, NSpid %s)" % (q, nspid(q) if q else []))
    ok(cg is not None and re.match(r"^/kubepods/besteffort/podvm-web1-%s/[0-9a-f]+/libpod-[0-9a-f]+$" % TAG, cg or ""),
       "the launcher's runtime cgroup is below the pod's, kubelet cgroupfs layout (%s)" % cg)
    blog = logs(broker_cname)
    m = re.findall(r"session (\d+) opened: pid %d uid 107 cgroup '([^']*)'" % lp, blog)
    ok(m and m[-1][1] == cg, "the broker's session names that real cgroup (%s)" % (m[-1][1] if m else "no session"))
    ok("joined the host's cgroup namespace" in blog,
       "the broker, in a private cgroup namespace, joined the host's to read peers' cgroups")

    # the network: in the VM container's netns, and only there
    inside = links(lp)
    br, eth, tap = inside.get("br0", {}), inside.get("eth0", {}), inside.get("vnet0", {})
    ok(br.get("linkinfo", {}).get("info_kind") == "bridge", "br0 is a bridge in the VM container's netns")
    ok(eth.get("master") == "br0", "the CNI's eth0 is enslaved to br0")
    ok(tap.get("master") == "br0" and tap.get("linkinfo", {}).get("info_kind") == "tun",
       "vnet0 is a TAP on br0 there")
    ok(tap.get("linkinfo", {}).get("info_data", {}).get("multi_queue") is True, "vnet0 has multiple queues")
    ok(re.search(r"inet \d+\.\d+\.\d+\.\d+/\d+", addrs(lp, "br0")) is not None
       and "inet " not in addrs(lp, "eth0"), "eth0's address moved to br0 (bridge binding)")
    host = links()
    bl = links(ctr_pid(broker_cname))
    ok("br0" not in host and "vnet0" not in host, "neither br0 nor vnet0 is in the host's netns")
    ok("br0" not in bl and "vnet0" not in bl, "nor in the broker's")
    fds = 0
    for fd in os.listdir("/proc/%d/fdinfo" % q):
        fds += "iff:\tvnet0" in read("/proc/%d/fdinfo/%s" % (q, fd))
    ok(fds == 2, "QEMU holds vnet0's 2 queues (%d)" % fds)

    # threads
    misplaced, vcpus, fifo = [], 0, False
    for t in os.listdir("/proc/%d/task" % q):
        tid = int(t)
        comm = read("/proc/%d/task/%d/comm" % (q, tid)).strip()
        tcg = cgroup_of(q, tid)
        if comm.startswith("CPU "):
            vcpus += 1
            if tcg != cg:
                misplaced.append((comm, tcg))
            if comm.startswith("CPU 1/"):
                fifo = os.sched_getscheduler(tid) & ~0x40000000 == os.SCHED_FIFO  # without reset-on-fork
        elif tcg != cg + "/housekeeping":
            misplaced.append((comm, tcg))
    ok(vcpus == 2 and not misplaced,
       "QEMU's vCPU threads stay in the container's cgroup, the others are in %s/housekeeping %s" % (cg, misplaced))
    ok(read("%s%s/housekeeping/cgroup.type" % (UNIFIED, cg)).strip() == "threaded",
       "kernel: housekeeping is a threaded cgroup")
    if with_rt:
        ok(fifo, "kernel: vCPU 1 is SCHED_FIFO")
    return lp, q, cg


def gone(cname, cg, pod_pid_fn):
    """Nothing of the VM is left: no bridge, TAP, housekeeping cgroup or state file."""
    ok(wait_for(lambda: not os.path.exists("%s%s/housekeeping" % (UNIFIED, cg)), 20),
       "the housekeeping cgroup is removed")
    ok(wait_for(lambda: state_files() == [], 20), "no state file is left (%s)" % state_files())
    pp = pod_pid_fn()
    left = wait_for(lambda: not ({"br0", "vnet0"} & set(links(pp))), 20) if pp else True
    ok(left, "no bridge or TAP is left in the pod's netns (%s)" % sorted(links(pp)) if pp else "the pod is gone")
    if pp:
        ok(wait_for(lambda: "inet " in addrs(pp, "eth0"), 10), "eth0 has its address back")
    host = links()
    ok(not any(n.startswith("vnet") or n == "br0" for n in host), "nothing in the host's netns either")


def infra_pid(pod):
    r = podman("pod", "inspect", pod, "--format", "{{.InfraContainerID}}", check=False)
    return ctr_pid(r.stdout.strip()) if r.returncode == 0 else 0


def kill9(cname):
    pid = ctr_pid(cname)
    if pid:
        os.kill(pid, 9)
    wait_for(lambda: not os.path.exists("/proc/%d" % pid), 10)


def on_term(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)  # meson's timeout: clean up on the way out


def main():
    signal.signal(signal.SIGTERM, on_term)
    for tool in ("podman", "runc", "nsenter", "ip"):
        if not shutil.which(tool):
            skip_all("%s is not installed (tools/install-deps.sh installs podman and runc)" % tool)
    if os.geteuid() != 0:
        skip_all("needs root (a container runtime)")
    if not os.path.exists("/dev/net/tun") or not UNIFIED:
        skip_all("no /dev/net/tun or no cgroup v2 hierarchy")
    os.makedirs(WORK)
    os.makedirs(RUNROOT, exist_ok=True)
    os.makedirs(CACHE, exist_ok=True)
    lock = open(CACHE + "/lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    os.makedirs(SOCKDIR)
    containers_conf(hooks=False)
    links_before.update(links())
    try:
        images = {}
        for f, entry in (("delegate-broker-daemonset.yaml", "/usr/bin/delegate-broker"),
                         ("vm-pod.yaml", "/usr/bin/delegate-launcher")):
            for _, _, spec in read_manifests(SRC + "/deploy/kubernetes/" + f)[1]:
                for c in spec["containers"]:
                    images[c["image"]] = [entry]
        build_images(images)
        ok(True, "images %s built from the build tree" % ", ".join(sorted(images)))
        run()
        for pod in list(pods_made):
            pod_rm(pod)
        ok(rm_cgroups("pod" + TAG) == 0, "every pod removed: none of their cgroups is left")
        ok(state_files() == [], "no state file is left in the broker's state directory")
        left = [n for n in links() if n.startswith("vnet") or n == "br0"]
        ok(not left, "no TAP device or bridge in the host's netns (%s)" % left)
    except Unsupported as e:
        ok(False, "the manifests use only fields this test translates: %s" % e)
    finally:
        cleanup()
    print("1..%d" % n_test, flush=True)
    return 1 if n_failed else 0


def check_admission():
    """The VM pod's namespace admits it, and the manifest says which level and why."""
    docs = [d for d in yaml.safe_load_all(open(SRC + "/deploy/kubernetes/vm-pod.yaml")) if d]
    ns = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Namespace"}
    for pod in (d for d in docs if d["kind"] == "Pod"):
        base, restr = pss_violations(pod["spec"])
        labels = ns.get(pod["metadata"].get("namespace", "default"), {}).get("metadata", {}).get("labels", {})
        level = labels.get("pod-security.kubernetes.io/enforce")
        ok(base == ["hostPath volume 'broker'"] and restr == [],
           "Pod Security: the VM pod breaks only baseline's hostPath rule (the broker's socket): %s %s" % (base, restr))
        ok(level == "privileged" and ns,
           "its namespace, shipped with it, enforces the level that admits it (%s)" % level)


def check_policy_globs():
    """The shipped policy matches the launcher under both kubelet cgroup drivers (offline, delegatectl)."""
    configmaps, _ = read_manifests(SRC + "/deploy/kubernetes/delegate-broker-daemonset.yaml")
    for what, d in (("the DaemonSet's policy", configmap_dir(configmaps, "delegate-policy")),
                    ("policy/examples", SRC + "/policy/examples")):
        for driver, cg in (("systemd", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/"
                                       "cri-containerd-0a1b.scope"),
                           ("cgroupfs", "/kubepods/besteffort/pod1/0a1b")):
            r = sh([BUILD + "/tools/delegatectl", "policy", "explain", "--policy-dir", d, "--uid", "107", "--cgroup",
                    cg, "--vm", "vm-web1", "memlock.set", '{"pid":0,"soft":"1G"}'])
            ok(r.returncode == 0 and "ALLOWED by rule" in r.stdout,
               "%s allows a launcher under kubelet's %s cgroup driver (%s)" % (what, driver, cg))


def run():
    check_policy_globs()
    check_admission()
    bpod, bname = start_broker()
    rt_kernel = os.path.exists("/sys/fs/cgroup/cpu/cpu.rt_runtime_us") or any(
        " - cgroup " in l and re.search(r"[ ,]cpu(,|$)", l.split(" - ")[1])
        for l in read("/proc/self/mountinfo").splitlines())

    # 1. as a node without a realtime budget for containers: the clear RT-budget error
    if rt_kernel:
        vpod, vname = start_vm()
        failed = wait_for(lambda: "sched.set failed" in logs(vname), 90, 0.5)
        ok(failed and "whose cpu.rt_runtime_us is 0" in logs(vname),
           "without a realtime budget, sched.set FIFO fails and says why (RT group scheduling)")
        if not failed:
            diag(logs(vname))
        pod_rm(vpod)
        ok(wait_for(lambda: state_files() == [], 20), "that session left no state file")
        install_rt_hook()
    else:
        diag("the kernel has no RT group scheduling: no realtime budget to give")

    # 2. the VM runs; kill -9 of the VM container, then of the broker
    vpod, vname = start_vm()
    r = check_vm(vname, bname, True)
    if r:
        lp, q, cg = r
        kill9(vname)
        ok(wait_for(lambda: not os.path.exists("/proc/%d" % q), 10), "kill -9 of the VM container: QEMU is gone")
        gone(vname, cg, lambda: infra_pid(vpod))
    pod_rm(vpod)
    kill9(bname)
    pod_rm(bpod)

    # 3. the broker dies first (kill -9), the VM keeps running; a new broker resumes it; then the VM dies
    bpod, bname = start_broker()
    vpod, vname = start_vm()
    r = check_vm(vname, bname, True)
    if r:
        lp, q, cg = r
        kill9(bname)
        pod_rm(bpod)
        ok(os.path.exists("/proc/%d" % q) and state_files() != [],
           "kill -9 of the broker: the VM runs on, its session state stays")
        bpod, bname = start_broker()
        if not ok(wait_for(lambda: "reconnected to the broker" in logs(vname), 30),
                  "the launcher reconnects to the new broker and resumes its session"):
            diag(logs(vname))
            diag(logs(bname))
        kill9(vname)
        gone(vname, cg, lambda: infra_pid(vpod))
    pod_rm(vpod)

    # 4. the launcher dies while the broker is down
    vpod, vname = start_vm()
    r = check_vm(vname, bname, True)
    if r:
        lp, q, cg = r
        kill9(bname)
        pod_rm(bpod)
        kill9(vname)
        ok(wait_for(lambda: not os.path.exists("/proc/%d" % q), 10), "the launcher and QEMU die while no broker runs")
        ok("br0" in links(infra_pid(vpod)), "meanwhile br0 is still there (nobody to remove it)")
        bpod, bname = start_broker()
        ok(wait_for(lambda: "its launcher exited while the broker was down" in logs(bname), 30),
           "the new broker finds the session's launcher dead")
        gone(vname, cg, lambda: infra_pid(vpod))
    pod_rm(vpod)
    kill9(bname)
    pod_rm(bpod)


if __name__ == "__main__":
    sys.exit(main())
