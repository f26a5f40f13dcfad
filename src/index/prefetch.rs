//! Cache prefetch hints for the shortlist, whose time at catalog scale goes to reading posting lists and
//! vocabulary nodes at random places in hundreds of megabytes: asking for them a little ahead overlaps the cache
//! misses with the work in between. Hints only: they never fault, and do nothing on processors other than x86-64.

/// Starts loading `item`'s cache line; nothing for `None`.
#[inline(always)]
pub(crate) fn one<T>(item: Option<&T>) {
    if let Some(item) = item {
        address((item as *const T).cast());
    }
}

/// Starts loading every cache line of `items`.
#[inline(always)]
pub(crate) fn all<T>(items: &[T]) {
    let bytes = std::mem::size_of_val(items);
    if bytes == 0 {
        return;
    }
    let start = items.as_ptr().cast::<u8>();
    for offset in (0..bytes).step_by(64).chain(std::iter::once(bytes - 1)) {
        address(start.wrapping_add(offset));
    }
}

/// Starts loading the cache line at `address`, which lies in live memory.
#[inline(always)]
fn address(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults and changes nothing but the cache.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}
