# Cold start of a built `bootstrap` under `cargo lambda watch --only-lambda-apis` (so the
# time is the binary's, not cargo's): time from exec to the first function-URL response for
# IMAGE -> 300 px JPEG, the same miss when warm, and the process's peak RSS (VmHWM). A moto
# server on loopback holds the buckets. Needs `bash .ci/setup` (moto, cargo-lambda, boto3).
#
#   cargo build --release -p imgflex-handler --bin bootstrap
#   .venv/bin/python tools/measure/coldstart.py target/release/bootstrap \
#       ../shared/corpus/sunset-4272x2848.jpg [RUNS]
import subprocess, time, socket, os, urllib.request, boto3, re, sys, statistics
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(ROOT, '.venv', 'bin')
BOOTSTRAP, IMAGE = os.path.abspath(sys.argv[1]), sys.argv[2]
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 5
def free():
    s=socket.socket(); s.bind(('127.0.0.1',0)); p=s.getsockname()[1]; s.close(); return p
def wait(port):
    while True:
        try: socket.create_connection(('127.0.0.1',port)).close(); return
        except OSError: time.sleep(0.02)
mp=free()
moto=subprocess.Popen([os.path.join(VENV,'moto_server'),'-H','127.0.0.1','-p',str(mp)],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
wait(mp)
ep=f'http://127.0.0.1:{mp}'
s3=boto3.client('s3',endpoint_url=ep,region_name='us-east-1',aws_access_key_id='t',aws_secret_access_key='t')
for b in ['orig-b','var-b']: s3.create_bucket(Bucket=b)
s3.put_object(Bucket='orig-b',Key='source.jpg',Body=open(IMAGE,'rb').read())
lp=free()
w=subprocess.Popen([os.path.join(VENV,'cargo-lambda'),'lambda','watch','--only-lambda-apis','-A','127.0.0.1','-P',str(lp)],cwd=ROOT,stdout=subprocess.PIPE,stderr=subprocess.STDOUT,text=True)
wait(lp)
time.sleep(1)
env=dict(os.environ, AWS_ENDPOINT_URL=ep, AWS_ACCESS_KEY_ID='t', AWS_SECRET_ACCESS_KEY='t', AWS_REGION='us-east-1',
    IMGFLEX_ORIGINALS_BUCKET='orig-b', IMGFLEX_VARIANTS_BUCKET='var-b',
    AWS_LAMBDA_RUNTIME_API=f'http://127.0.0.1:{lp}/.rt', AWS_LAMBDA_FUNCTION_NAME='_',
    AWS_LAMBDA_FUNCTION_VERSION='1', AWS_LAMBDA_FUNCTION_MEMORY_SIZE='2048')
results=[]
for run in range(RUNS):
    url=f'http://127.0.0.1:{lp}/lambda-url/_/_v/source.jpg/w300_inside_center_q80_bgffffff_e0.jpg'
    s3.delete_object(Bucket='var-b',Key=url.split('/_/')[1])
    t0=time.time()
    b=subprocess.Popen([BOOTSTRAP],env=env,stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
    r=urllib.request.urlopen(url,timeout=600); body=r.read(); t1=time.time()
    timing=r.headers.get('server-timing')
    work=sum(int(x) for x in re.findall(r'dur=(\d+)',timing))/1000
    warm=[]
    for i in range(5):
        s3.delete_object(Bucket='var-b',Key=url.split('/_/')[1])
        t=time.time(); urllib.request.urlopen(url,timeout=600).read(); warm.append(time.time()-t)
    hwm=int(re.search(r'VmHWM:\s+(\d+)',open(f'/proc/{b.pid}/status').read()).group(1))
    b.terminate(); b.wait()
    results.append((t1-t0, statistics.median(warm), hwm/1024, t1-t0-work))
    print(f'run {run}: status {r.status} {len(body)} B, exec->first response {1000*(t1-t0):.0f} ms ({timing}), warm miss median {1000*statistics.median(warm):.0f} ms, exec->first response minus its own work {1000*(t1-t0-work):.0f} ms, peak RSS {hwm/1024:.1f} MB', flush=True)
cold=statistics.median(x[0] for x in results); warm=statistics.median(x[1] for x in results)
print(f'median init (exec to ready, beyond the request work): {1000*statistics.median(x[3] for x in results):.0f} ms')
print(f'median: first response {1000*cold:.0f} ms, warm miss {1000*warm:.0f} ms, so cold start overhead ~{1000*(cold-warm):.0f} ms; peak RSS max {max(x[2] for x in results):.1f} MB')
w.terminate(); moto.terminate()
