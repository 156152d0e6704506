//! The size prefix of a request frame, checked before any of the frame is allocated
//! (pure).

use thiserror::Error;

/// Why a size prefix is refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    /// Negative size.
    #[error("negative request size {0}")]
    Negative(i32),
    /// Over the limit.
    #[error("request of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Size the client announced.
        size: u32,
        /// The limit.
        max: u32,
    },
}

/// The frame length a 4-byte big-endian prefix announces, if within `max` bytes.
pub fn frame_len(prefix: [u8; 4], max: u32) -> Result<usize, FrameError> {
    let size = i32::from_be_bytes(prefix);
    let size = u32::try_from(size).map_err(|_| FrameError::Negative(size))?;
    if size > max {
        return Err(FrameError::TooLarge { size, max });
    }
    Ok(size as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked_against_the_limit() {
        assert_eq!(frame_len(10i32.to_be_bytes(), 10), Ok(10));
        assert_eq!(
            frame_len(11i32.to_be_bytes(), 10),
            Err(FrameError::TooLarge { size: 11, max: 10 })
        );
        assert_eq!(
            frame_len((-1i32).to_be_bytes(), 10),
            Err(FrameError::Negative(-1))
        );
    }
}
