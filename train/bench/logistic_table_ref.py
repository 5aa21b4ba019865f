# Independent reference implementation of the logistic table of spec/model.md §4.5, in plain
# Python with exact fused multiply-adds (fractions). Prints the CRC-32 the spec publishes.
# Run: python3 train/bench/logistic_table_ref.py
from fractions import Fraction as Fr
import struct, zlib, math
def f(h): return struct.unpack('<d', bytes.fromhex(h)[::-1])[0]
LOG2E=f('3FF71547652B82FE'); HI=f('3FE62E42FEE00000'); LO=f('3DEA39EF35793C76')
D=[f(h) for h in ['3FE0000000000000','3FC5555555555555','3FA5555555555555','3F81111111111111','3F56C16C16C16C17','3F2A01A01A01A01A','3EFA01A01A01A01A','3EC71DE3A556C734','3E927E4FB7789F5C','3E5AE64567F544E4','3E21EED8EFF8D898','3DE6124613A86D09']]
def fma(a,b,c): return float(Fr(a)*Fr(b)+Fr(c))
def rne(v):
    r=round(v)  # python round is ties-to-even
    return float(r)
def exp64(x):
    kf=rne(x*LOG2E); r=fma(-kf,HI,x); r=fma(-kf,LO,r)
    p=D[11]
    for d in reversed(D[:11]): p=fma(p,r,d)
    p=fma(p,r,1.0); p=fma(p,r,1.0)
    return p*2.0**int(kf)
T=[0]*32769
for j in range(16384,32769):
    x=(j-16384)/1024.0; a=exp64(-x); v=2147483648.0/(1.0+a); T[j]=int(math.floor(v+0.5))
for j in range(16384): T[j]=2**31-T[32768-j]
b=b''.join(struct.pack('<I',t) for t in T)
print(hex(zlib.crc32(b)), T[0], T[32768], T[16384+1024])
