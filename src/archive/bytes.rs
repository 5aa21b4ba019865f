//! Little-endian reading and writing helpers. Reading is bounds-checked: running off the end of
//! a slice is an error, never a panic.

/// Whether `data` has CRC32 `expected`. Fuzzing builds (`--cfg fuzzing`, set by cargo-fuzz) accept
/// any CRC: random mutations would otherwise almost never get past the checks into the parsers
/// and decoders that the fuzzer is there to exercise.
pub fn crc_ok(data: &[u8], expected: u32) -> bool {
    cfg!(fuzzing) || crc32fast::hash(data) == expected
}

/// A forward-only reader over a byte slice.
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

/// Reading ran past the end of the data.
#[derive(Debug)]
pub struct Short;

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Short> {
        if n > self.remaining() {
            return Err(Short);
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u8(&mut self) -> Result<u8, Short> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, Short> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }

    pub fn u32(&mut self) -> Result<u32, Short> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    pub fn u64(&mut self) -> Result<u64, Short> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    pub fn i64(&mut self) -> Result<i64, Short> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    /// A LEB128 varint of at most 64 bits in its shortest form (`None` inside `Ok` when it is
    /// over-long or overflows: damage, not a short read).
    pub fn varint(&mut self) -> Result<Option<u64>, Short> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.u8()?;
            let bits = (b & 0x7F) as u64;
            if i == 9 && bits > 1 {
                return Ok(None);
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                // Shortest form: a last byte of zero only when it is the only byte.
                return Ok((b != 0 || i == 0).then_some(v));
            }
        }
        Ok(None)
    }
}

/// Signed to unsigned, small magnitudes to small numbers: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ...
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Appending little-endian integers to a byte vector.
pub trait PutLe {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put_i64(&mut self, v: i64);
    /// LEB128: 7 bits a byte, low bits first, the high bit set on every byte but the last.
    fn put_varint(&mut self, v: u64);
}

impl PutLe for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_i64(&mut self, v: i64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.push(v as u8);
    }
}
