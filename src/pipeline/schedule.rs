//! Longest-processing-time-first scheduling on rayon's pool: the costliest items (WebP encodes)
//! start first, so the last core is not left with one big image while the other idles. Results
//! come back in input order, so the bytes do not depend on the order of work or thread count.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// `f` over `items`, started in descending `cost` (ties in input order) by one worker per pool
/// thread taking the next item as it frees up (greedy list scheduling); results in input order.
pub fn map_costliest_first<T, R, C, F>(items: &[T], cost: C, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    C: Fn(&T) -> u64,
    F: Fn(&T) -> R + Sync,
{
    let mut order: Vec<usize> = (0..items.len()).collect();
    // A stable sort: equal costs keep input order.
    order.sort_by_key(|&i| std::cmp::Reverse(cost(&items[i])));
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let workers = rayon::current_num_threads().min(items.len()).max(1);
    let work = || {
        while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
            let r = f(&items[i]);
            *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        }
    };
    rayon::scope(|s| {
        for _ in 1..workers {
            s.spawn(|_| work());
        }
        // The calling thread works too (and alone, when the pool's other threads are busy).
        work();
    });
    slots
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()).expect("every item is taken by a worker before the scope ends"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_in_input_order_whatever_the_threads() {
        let items: Vec<u64> = (0..200).map(|i| (i * 7919) % 113).collect();
        let expected: Vec<u64> = items.iter().map(|x| x * 3).collect();
        for threads in [1, 2, 5] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
            let got = pool.install(|| map_costliest_first(&items, |x| *x, |x| x * 3));
            assert_eq!(got, expected, "{threads} threads");
        }
    }

    #[test]
    fn one_thread_runs_the_costliest_first() {
        let items = vec![("small", 1u64), ("big", 9), ("mid", 5), ("mid2", 5)];
        let started = Mutex::new(Vec::new());
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
        pool.install(|| map_costliest_first(&items, |x| x.1, |x| started.lock().expect("lock").push(x.0)));
        assert_eq!(started.into_inner().expect("lock"), ["big", "mid", "mid2", "small"]);
    }

    #[test]
    fn no_items() {
        let items: Vec<u8> = Vec::new();
        assert!(map_costliest_first(&items, |_| 0, |x| *x).is_empty());
    }
}
