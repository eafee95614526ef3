//! Just enough X.509 DER reading to check a self-signed certificate that webpki will not take as
//! an end entity (one flagged as a CA, as `openssl req -x509` makes by default): the signed
//! `tbsCertificate` bytes, the signature algorithm and value, and the validity period.

use rustls_pki_types::UnixTime;

/// The parts of a certificate a self-signature check needs.
#[derive(Debug)]
pub(crate) struct SignedParts<'a> {
    /// The whole `tbsCertificate` TLV: what the signature covers.
    pub(crate) tbs: &'a [u8],
    /// The contents of the outer `signatureAlgorithm` (OID and parameters, no SEQUENCE header),
    /// comparable with `SignatureVerificationAlgorithm::signature_alg_id`.
    pub(crate) signature_algorithm: &'a [u8],
    /// The signature bits.
    pub(crate) signature: &'a [u8],
    /// `notBefore`, seconds since the Unix epoch.
    pub(crate) not_before: u64,
    /// `notAfter`, seconds since the Unix epoch.
    pub(crate) not_after: u64,
}

impl SignedParts<'_> {
    /// Whether `now` lies within the validity period.
    pub(crate) fn valid_at(&self, now: UnixTime) -> bool {
        let now = now.as_secs();
        self.not_before <= now && now <= self.not_after
    }
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const VERSION: u8 = 0xa0;

/// Reads one TLV from the front of `input`: (tag, contents, whole TLV).
fn tlv<'a>(input: &mut &'a [u8]) -> Option<(u8, &'a [u8], &'a [u8])> {
    let all = *input;
    let (&tag, rest) = all.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < len {
        return None;
    }
    let header = all.len() - rest.len();
    let (contents, after) = rest.split_at(len);
    *input = after;
    Some((tag, contents, &all[..header + len]))
}

fn expect<'a>(input: &mut &'a [u8], tag: u8) -> Option<(&'a [u8], &'a [u8])> {
    match tlv(input)? {
        (t, contents, whole) if t == tag => Some((contents, whole)),
        _ => None,
    }
}

/// Splits a DER certificate into its signed parts; `None` if it is not one.
pub(crate) fn parse(der: &[u8]) -> Option<SignedParts<'_>> {
    let mut input = der;
    let (cert, _) = expect(&mut input, SEQUENCE)?;
    if !input.is_empty() {
        return None;
    }
    let mut cert = cert;
    let (tbs_contents, tbs) = expect(&mut cert, SEQUENCE)?;
    let (signature_algorithm, _) = expect(&mut cert, SEQUENCE)?;
    let (bits, _) = expect(&mut cert, BIT_STRING)?;
    let (&unused, signature) = bits.split_first()?;
    if unused != 0 || !cert.is_empty() {
        return None;
    }
    let mut fields = tbs_contents;
    if fields.first() == Some(&VERSION) {
        tlv(&mut fields)?;
    }
    expect(&mut fields, INTEGER)?; // serialNumber
    expect(&mut fields, SEQUENCE)?; // signature
    expect(&mut fields, SEQUENCE)?; // issuer
    let (mut validity, _) = expect(&mut fields, SEQUENCE)?;
    let not_before = time(&mut validity)?;
    let not_after = time(&mut validity)?;
    Some(SignedParts {
        tbs,
        signature_algorithm,
        signature,
        not_before,
        not_after,
    })
}

/// A `UTCTime` (`YYMMDDHHMMSSZ`, years 1950–2049) or `GeneralizedTime` (`YYYYMMDDHHMMSSZ`).
fn time(input: &mut &[u8]) -> Option<u64> {
    let (tag, text, _) = tlv(input)?;
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |s: &str| s.parse::<u64>().ok();
    let (year, rest) = match (tag, text.len()) {
        (UTC_TIME, 12) => {
            let yy = num(&text[..2])?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        (GENERALIZED_TIME, 14) => (num(&text[..4])?, &text[4..]),
        _ => return None,
    };
    let (month, day) = (num(&rest[..2])?, num(&rest[2..4])?);
    let (hour, minute, second) = (num(&rest[4..6])?, num(&rest[6..8])?, num(&rest[8..10])?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm), for dates
/// from 1970 on.
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_convert_to_unix_time() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        assert_eq!(days_from_civil(2026, 12, 2), Some(20_789));
        let mut utc: &[u8] = b"\x17\x0d491231235959Z";
        assert_eq!(time(&mut utc), Some(2_524_607_999));
        let mut generalized: &[u8] = b"\x18\x0f20500101000000Z";
        assert_eq!(time(&mut generalized), Some(2_524_608_000));
        let mut bad: &[u8] = b"\x17\x0d491331235959Z";
        assert_eq!(time(&mut bad), None);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(parse(b"").is_none());
        assert!(parse(b"\x30\x03\x02\x01\x01").is_none());
        assert!(parse(b"\x30\x84\xff\xff\xff\xff").is_none());
    }
}
