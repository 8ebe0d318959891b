//! Just enough ELF reading to check a Lambda `bootstrap` before it ships:
//! its machine type (so an arm64 binary never lands in an x86_64 function)
//! and the glibc symbol versions it needs (so it starts on `provided.al2023`,
//! whose glibc is 2.34).
//!
//! Hand-written instead of a dependency because only two headers and one
//! section type (`SHT_GNU_verneed`) are read.

use rekey_config::Architecture;
use std::fmt;

/// Newest glibc symbol version `provided.al2023` offers.
pub const AL2023_GLIBC: GlibcVersion = GlibcVersion { major: 2, minor: 34 };

const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;

/// Why a file could not be read as a 64-bit little-endian ELF.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ElfError {
    /// Not an ELF file at all.
    #[error("not an ELF file (no `\\x7fELF` magic)")]
    NotElf,
    /// An ELF rekey never builds (32-bit or big-endian).
    #[error("unsupported ELF class or byte order (expected 64-bit little-endian)")]
    Unsupported,
    /// A header points outside the file.
    #[error("truncated ELF: {0} is out of bounds")]
    Truncated(&'static str),
    /// The headers are readable but describe something no linker writes.
    #[error("malformed ELF: {0}")]
    Malformed(&'static str),
}

/// The CPU an ELF file is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    /// `EM_X86_64`.
    X86_64,
    /// `EM_AARCH64`.
    Aarch64,
    /// Anything else, with its `e_machine` value.
    Other(u16),
}

impl Machine {
    /// The machine a Lambda function of `architecture` runs.
    pub fn for_architecture(architecture: Architecture) -> Machine {
        match architecture {
            Architecture::X86_64 => Machine::X86_64,
            Architecture::Arm64 => Machine::Aarch64,
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Machine::X86_64 => f.write_str("x86_64 (EM_X86_64)"),
            Machine::Aarch64 => f.write_str("aarch64 (EM_AARCH64)"),
            Machine::Other(n) => write!(f, "e_machine {n}"),
        }
    }
}

/// A `GLIBC_<major>.<minor>` symbol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlibcVersion {
    /// Major version (2).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl GlibcVersion {
    /// Parses `GLIBC_2.17` (and `GLIBC_2.2.5`, keeping major and minor);
    /// `None` for other version names such as `GLIBC_PRIVATE` or `GCC_3.0`.
    pub fn parse(name: &str) -> Option<GlibcVersion> {
        let rest = name.strip_prefix("GLIBC_")?;
        let mut parts = rest.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(GlibcVersion { major, minor })
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GLIBC_{}.{}", self.major, self.minor)
    }
}

/// What rekey checks about an executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfInfo {
    /// The CPU it is built for.
    pub machine: Machine,
    /// Every `(library, version)` requirement from `.gnu.version_r`, in file
    /// order; empty for a static binary.
    pub version_needs: Vec<(String, String)>,
}

impl ElfInfo {
    /// The newest `GLIBC_x.y` version required, if any.
    pub fn max_glibc(&self) -> Option<GlibcVersion> {
        self.version_needs.iter().filter_map(|(_, v)| GlibcVersion::parse(v)).max()
    }
}

/// More version requirements than any real executable has (a glibc binary
/// has a few dozen): a crafted file whose records point back at themselves
/// could otherwise make the loops below collect billions.
const MAX_VERSION_NEEDS: usize = 4096;

/// Reads the machine type and the symbol version requirements of an ELF file.
///
/// The file is untrusted (`--lambda-zip` may hold anything): every offset,
/// size and count it states is checked, with checked arithmetic, before it is
/// used, so a truncated or crafted file is an [`ElfError`], never a panic or
/// an overflow.
pub fn inspect(bytes: &[u8]) -> Result<ElfInfo, ElfError> {
    if bytes.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err(ElfError::NotElf);
    }
    // EI_CLASS 2 = 64-bit, EI_DATA 1 = little-endian.
    if bytes.len() < 64 || bytes.get(4..6) != Some([2u8, 1].as_slice()) {
        return Err(ElfError::Unsupported);
    }
    let r = Reader(bytes);
    let machine = match r.u16(0, 18, "e_machine")? {
        EM_X86_64 => Machine::X86_64,
        EM_AARCH64 => Machine::Aarch64,
        other => Machine::Other(other),
    };
    let shoff = r.offset(0, 0x28, "e_shoff")?;
    let shentsize = usize::from(r.u16(0, 0x3a, "e_shentsize")?);
    let shnum = usize::from(r.u16(0, 0x3c, "e_shnum")?);
    let section = |index: usize| -> Result<Section, ElfError> {
        let base = index
            .checked_mul(shentsize)
            .and_then(|at| at.checked_add(shoff))
            .ok_or(ElfError::Truncated("section header"))?;
        Ok(Section {
            kind: r.u32(base, 4, "sh_type")?,
            offset: r.offset(base, 24, "sh_offset")?,
            size: r.offset(base, 32, "sh_size")?,
            link: r.u32(base, 40, "sh_link")? as usize,
            info: r.u32(base, 44, "sh_info")?,
        })
    };
    let mut version_needs = Vec::new();
    for index in 0..shnum {
        let verneed = section(index)?;
        if verneed.kind != SHT_GNU_VERNEED {
            continue;
        }
        let strtab = section(verneed.link)?;
        let string = |offset: u32| r.cstr(strtab.offset, strtab.size, offset as usize);
        // Elf64_Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32.
        let mut need = verneed.offset;
        for _ in 0..verneed.info {
            let count = r.u16(need, 2, "vn_cnt")?;
            let file = string(r.u32(need, 4, "vn_file")?)?;
            // Elf64_Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32.
            let mut aux = advance(need, r.u32(need, 8, "vn_aux")?, "vn_aux")?;
            for _ in 0..count {
                if version_needs.len() == MAX_VERSION_NEEDS {
                    return Err(ElfError::Malformed("more than 4096 symbol version requirements"));
                }
                version_needs.push((file.clone(), string(r.u32(aux, 8, "vna_name")?)?));
                aux = advance(aux, r.u32(aux, 12, "vna_next")?, "vna_next")?;
            }
            let next = r.u32(need, 12, "vn_next")?;
            if next == 0 {
                break;
            }
            need = advance(need, next, "vn_next")?;
        }
    }
    Ok(ElfInfo { machine, version_needs })
}

/// `at + by`, an offset the file states relative to another.
fn advance(at: usize, by: u32, what: &'static str) -> Result<usize, ElfError> {
    at.checked_add(by as usize).ok_or(ElfError::Truncated(what))
}

/// Why a `bootstrap` cannot run as a Lambda function of the configured architecture.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BootstrapError {
    /// The ELF could not be read.
    #[error("`bootstrap` is not a readable executable: {0}")]
    Elf(#[from] ElfError),
    /// Built for another CPU.
    #[error("`bootstrap` is built for {found}, but lambda.architecture `{architecture}` needs {expected}")]
    Machine {
        /// Found in the file.
        found: Machine,
        /// Needed.
        expected: Machine,
        /// The configured architecture.
        architecture: &'static str,
    },
    /// Needs a newer glibc than the runtime has.
    #[error("`bootstrap` needs `{found}`, but provided.al2023 only has glibc up to `{max}`; build with cargo-zigbuild and a `.2.17` target suffix")]
    Glibc {
        /// The newest version required.
        found: GlibcVersion,
        /// [`AL2023_GLIBC`].
        max: GlibcVersion,
    },
}

/// Checks that `bytes` is an executable a `provided.al2023` function of
/// `architecture` can start: right machine, glibc no newer than 2.34.
pub fn check_bootstrap(bytes: &[u8], architecture: Architecture) -> Result<ElfInfo, BootstrapError> {
    let info = inspect(bytes)?;
    let expected = Machine::for_architecture(architecture);
    if info.machine != expected {
        return Err(BootstrapError::Machine {
            found: info.machine,
            expected,
            architecture: architecture.lambda_name(),
        });
    }
    if let Some(found) = info.max_glibc().filter(|v| *v > AL2023_GLIBC) {
        return Err(BootstrapError::Glibc { found, max: AL2023_GLIBC });
    }
    Ok(info)
}

struct Section {
    kind: u32,
    offset: usize,
    size: usize,
    link: usize,
    info: u32,
}

/// Little-endian fields at `base + delta`, each bounds- and overflow-checked.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn bytes<const N: usize>(&self, base: usize, delta: usize, what: &'static str) -> Result<[u8; N], ElfError> {
        base.checked_add(delta)
            .and_then(|at| Some((at, at.checked_add(N)?)))
            .and_then(|(at, end)| self.0.get(at..end))
            .and_then(|s| s.try_into().ok())
            .ok_or(ElfError::Truncated(what))
    }
    fn u16(&self, base: usize, delta: usize, what: &'static str) -> Result<u16, ElfError> {
        self.bytes::<2>(base, delta, what).map(u16::from_le_bytes)
    }
    fn u32(&self, base: usize, delta: usize, what: &'static str) -> Result<u32, ElfError> {
        self.bytes::<4>(base, delta, what).map(u32::from_le_bytes)
    }
    /// A 64-bit offset or size, which must also fit this machine's `usize`.
    fn offset(&self, base: usize, delta: usize, what: &'static str) -> Result<usize, ElfError> {
        let value = self.bytes::<8>(base, delta, what).map(u64::from_le_bytes)?;
        usize::try_from(value).map_err(|_| ElfError::Truncated(what))
    }
    fn cstr(&self, table: usize, size: usize, offset: usize) -> Result<String, ElfError> {
        let end = table.checked_add(size).ok_or(ElfError::Truncated("string table"))?;
        let table = self.0.get(table..end).ok_or(ElfError::Truncated("string table"))?;
        let tail = table.get(offset..).ok_or(ElfError::Truncated("string offset"))?;
        let end = tail.iter().position(|b| *b == 0).ok_or(ElfError::Truncated("unterminated string"))?;
        Ok(String::from_utf8_lossy(&tail[..end]).into_owned())
    }
}

/// Builds small synthetic ELF files for tests (here and in the CLI's tests,
/// which need a `bootstrap` that passes [`check_bootstrap`] without a real build).
pub mod fixture {
    /// A minimal 64-bit little-endian ELF with `e_machine` set and one
    /// `.gnu.version_r` section requiring each of `versions` from `libc.so.6`.
    pub fn elf(e_machine: u16, versions: &[&str]) -> Vec<u8> {
        // Layout: ELF header (64) | strtab | verneed | section headers (3 x 64).
        let mut strtab = vec![0u8];
        let mut add = |s: &str| {
            let at = strtab.len() as u32;
            strtab.extend_from_slice(s.as_bytes());
            strtab.push(0);
            at
        };
        let libc = add("libc.so.6");
        let names: Vec<u32> = versions.iter().map(|v| add(v)).collect();
        let mut verneed = Vec::new();
        if !names.is_empty() {
            verneed.extend_from_slice(&1u16.to_le_bytes());
            verneed.extend_from_slice(&(names.len() as u16).to_le_bytes());
            verneed.extend_from_slice(&libc.to_le_bytes());
            verneed.extend_from_slice(&16u32.to_le_bytes());
            verneed.extend_from_slice(&0u32.to_le_bytes());
            for (i, name) in names.iter().enumerate() {
                verneed.extend_from_slice(&0u32.to_le_bytes());
                verneed.extend_from_slice(&0u16.to_le_bytes());
                verneed.extend_from_slice(&0u16.to_le_bytes());
                verneed.extend_from_slice(&name.to_le_bytes());
                let next: u32 = if i + 1 == names.len() { 0 } else { 16 };
                verneed.extend_from_slice(&next.to_le_bytes());
            }
        }
        let strtab_off = 64usize;
        let verneed_off = strtab_off + strtab.len();
        let shoff = verneed_off + verneed.len();
        let mut out = vec![0u8; 64];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2;
        out[5] = 1;
        out[6] = 1;
        out[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        out[18..20].copy_from_slice(&e_machine.to_le_bytes());
        out[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        out[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        out[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        out.extend_from_slice(&strtab);
        out.extend_from_slice(&verneed);
        let header = |kind: u32, offset: usize, size: usize, link: u32, info: u32| {
            let mut h = vec![0u8; 64];
            h[4..8].copy_from_slice(&kind.to_le_bytes());
            h[24..32].copy_from_slice(&(offset as u64).to_le_bytes());
            h[32..40].copy_from_slice(&(size as u64).to_le_bytes());
            h[40..44].copy_from_slice(&link.to_le_bytes());
            h[44..48].copy_from_slice(&info.to_le_bytes());
            h
        };
        out.extend(header(0, 0, 0, 0, 0));
        out.extend(header(3, strtab_off, strtab.len(), 0, 0)); // SHT_STRTAB
        out.extend(header(super::SHT_GNU_VERNEED, verneed_off, verneed.len(), 1, u32::from(!names.is_empty())));
        out
    }

    /// An x86_64 ELF needing glibc 2.17 at most: passes the default config's check.
    pub fn x86_64_bootstrap() -> Vec<u8> {
        elf(super::EM_X86_64, &["GLIBC_2.2.5", "GLIBC_2.17"])
    }

    /// An aarch64 ELF needing glibc 2.17 at most.
    pub fn aarch64_bootstrap() -> Vec<u8> {
        elf(super::EM_AARCH64, &["GLIBC_2.17"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn reads_machine_and_version_needs() {
        let info = inspect(&fixture::elf(EM_AARCH64, &["GLIBC_2.17", "GLIBC_2.28", "GLIBC_PRIVATE"])).unwrap();
        assert_eq!(info.machine, Machine::Aarch64);
        assert_eq!(
            info.version_needs,
            vec![
                ("libc.so.6".to_string(), "GLIBC_2.17".to_string()),
                ("libc.so.6".to_string(), "GLIBC_2.28".to_string()),
                ("libc.so.6".to_string(), "GLIBC_PRIVATE".to_string()),
            ]
        );
        assert_eq!(info.max_glibc(), Some(GlibcVersion { major: 2, minor: 28 }));
    }

    #[test]
    fn static_binary_has_no_glibc_requirement() {
        let info = inspect(&fixture::elf(EM_X86_64, &[])).unwrap();
        assert_eq!((info.machine, info.max_glibc()), (Machine::X86_64, None));
    }

    #[test]
    fn glibc_versions_order_numerically() {
        assert!(GlibcVersion::parse("GLIBC_2.34").unwrap() > GlibcVersion::parse("GLIBC_2.4").unwrap());
        assert_eq!(GlibcVersion::parse("GLIBC_2.2.5"), Some(GlibcVersion { major: 2, minor: 2 }));
        assert_eq!(GlibcVersion::parse("GCC_3.0"), None);
    }

    #[test]
    fn check_rejects_wrong_machine_and_new_glibc() {
        assert!(check_bootstrap(&fixture::x86_64_bootstrap(), Architecture::X86_64).is_ok());
        assert!(check_bootstrap(&fixture::aarch64_bootstrap(), Architecture::Arm64).is_ok());
        let err = check_bootstrap(&fixture::x86_64_bootstrap(), Architecture::Arm64).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`bootstrap` is built for x86_64 (EM_X86_64), but lambda.architecture `arm64` needs aarch64 (EM_AARCH64)"
        );
        let err =
            check_bootstrap(&fixture::elf(EM_X86_64, &["GLIBC_2.34", "GLIBC_2.38"]), Architecture::X86_64).unwrap_err();
        assert!(err.to_string().contains("needs `GLIBC_2.38`"), "{err}");
        assert_eq!(check_bootstrap(b"#!/bin/sh\n", Architecture::X86_64).unwrap_err(), ElfError::NotElf.into());
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let mut elf = fixture::x86_64_bootstrap();
        elf.truncate(100);
        assert!(matches!(inspect(&elf), Err(ElfError::Truncated(_))));
    }

    #[test]
    fn every_truncation_of_a_valid_file_is_an_error_not_a_panic() {
        let elf = fixture::x86_64_bootstrap();
        let full = inspect(&elf).unwrap();
        // The section headers come last; the last 16 bytes of the last one
        // (sh_addralign, sh_entsize) are never read.
        let unread = 16;
        for len in 0..elf.len() {
            let result = inspect(&elf[..len]);
            match len {
                0..4 => assert_eq!(result, Err(ElfError::NotElf), "length {len}"),
                4..64 => assert_eq!(result, Err(ElfError::Unsupported), "length {len}"),
                _ if len < elf.len() - unread => {
                    assert!(matches!(result, Err(ElfError::Truncated(_))), "length {len}: {result:?}")
                }
                _ => assert_eq!(result.as_ref(), Ok(&full), "length {len}"),
            }
        }
    }

    /// Offsets of the fixture's fields: (section headers, verneed record, first aux record).
    fn layout(elf: &[u8]) -> (usize, usize, usize) {
        let shoff = u64::from_le_bytes(elf[0x28..0x30].try_into().unwrap()) as usize;
        let verneed_header = shoff + 2 * 64;
        let verneed = u64::from_le_bytes(elf[verneed_header + 24..verneed_header + 32].try_into().unwrap()) as usize;
        (shoff, verneed, verneed + 16)
    }

    fn patched(at: usize, value: &[u8]) -> Vec<u8> {
        let mut elf = fixture::x86_64_bootstrap();
        elf[at..at + value.len()].copy_from_slice(value);
        elf
    }

    #[test]
    fn crafted_offsets_and_counts_are_errors_not_panics() {
        let (shoff, verneed, aux) = layout(&fixture::x86_64_bootstrap());
        let verneed_header = shoff + 2 * 64;
        let max64 = u64::MAX.to_le_bytes();
        let max32 = u32::MAX.to_le_bytes();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("e_shoff at the end of the address space", patched(0x28, &max64)),
            ("e_shoff just past the file", patched(0x28, &(fixture::x86_64_bootstrap().len() as u64).to_le_bytes())),
            ("huge e_shentsize times e_shnum", {
                let mut elf = patched(0x3a, &u16::MAX.to_le_bytes());
                elf[0x3c..0x3e].copy_from_slice(&u16::MAX.to_le_bytes());
                elf
            }),
            ("sh_offset of the version section", patched(verneed_header + 24, &max64)),
            ("sh_size of the string table", patched(shoff + 64 + 32, &max64)),
            ("sh_offset of the string table", patched(shoff + 64 + 24, &max64)),
            ("sh_link past every section", patched(verneed_header + 40, &max32)),
            ("sh_info (record count) with records out of bounds", {
                let mut elf = patched(verneed_header + 44, &max32);
                elf[verneed + 12..verneed + 16].copy_from_slice(&max32);
                elf
            }),
            ("vn_aux", patched(verneed + 8, &max32)),
            ("vn_file", patched(verneed + 4, &max32)),
            ("vna_name", patched(aux + 8, &max32)),
            ("vna_next", patched(aux + 12, &max32)),
        ];
        for (what, elf) in cases {
            let result = std::panic::catch_unwind(|| inspect(&elf));
            let result = result.unwrap_or_else(|_| panic!("{what}: panicked"));
            assert!(matches!(result, Err(ElfError::Truncated(_))), "{what}: {result:?}");
        }
    }

    #[test]
    fn records_that_point_at_themselves_are_refused_not_collected_forever() {
        // vn_cnt 65535 aux records that each name the next as themselves
        // (vna_next 0), in 2^32 - 1 verneed records: billions of entries if followed.
        let (shoff, verneed, aux) = layout(&fixture::x86_64_bootstrap());
        let mut elf = patched(verneed + 2, &u16::MAX.to_le_bytes());
        elf[aux + 12..aux + 16].copy_from_slice(&0u32.to_le_bytes());
        elf[shoff + 2 * 64 + 44..shoff + 2 * 64 + 48].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(inspect(&elf), Err(ElfError::Malformed("more than 4096 symbol version requirements")));
    }

    #[test]
    fn reads_a_real_host_executable() {
        // The test binary itself: a real linker's output, not our fixture.
        let bytes = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let info = inspect(&bytes).unwrap();
        let expected = if cfg!(target_arch = "aarch64") { Machine::Aarch64 } else { Machine::X86_64 };
        assert_eq!(info.machine, expected);
        assert!(info.max_glibc().is_some(), "{:?}", info.version_needs);
    }
}
