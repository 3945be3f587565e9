/** Classification metrics: confusion matrix, accuracy, per-class recall/precision/F1, macro-F1. */
export interface Metrics {
  n: number;
  accuracy: number;
  /** rows = true class, columns = predicted class (same order as `classes`). */
  confusion: number[][];
  classes: string[];
  perClass: Record<string, { support: number; recall: number; precision: number; f1: number }>;
  /**
   * Mean F1 over the classes present in the truth (support > 0). scikit-learn's default also
   * averages in a class that is only predicted (F1 0), which gives a lower figure when a test
   * set lacks a class (a CK+ fold without contempt; an 8-class model on the 7-class ck48).
   */
  macroF1: number;
}

export function computeMetrics(classes: string[], truth: number[], pred: number[]): Metrics {
  if (truth.length !== pred.length) throw new Error('computeMetrics: truth and prediction lengths differ');
  const k = classes.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < truth.length; i++) confusion[truth[i]][pred[i]]++;
  return metricsFromConfusion(classes, confusion);
}

export function metricsFromConfusion(classes: string[], confusion: number[][]): Metrics {
  const k = classes.length;
  let n = 0;
  let correct = 0;
  const perClass: Metrics['perClass'] = {};
  let f1Sum = 0;
  let f1Count = 0;
  for (let c = 0; c < k; c++) {
    const support = confusion[c].reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, row) => a + row[c], 0);
    const tp = confusion[c][c];
    n += support;
    correct += tp;
    const recall = support ? tp / support : 0;
    const precision = predicted ? tp / predicted : 0;
    const f1 = recall + precision > 0 ? (2 * recall * precision) / (recall + precision) : 0;
    perClass[classes[c]] = { support, recall, precision, f1 };
    if (support > 0) {
      f1Sum += f1;
      f1Count++;
    }
  }
  return { n, accuracy: n ? correct / n : 0, confusion, classes, perClass, macroF1: f1Count ? f1Sum / f1Count : 0 };
}

export function meanStd(xs: number[]): { mean: number; std: number } {
  if (xs.length === 0) return { mean: 0, std: 0 };
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.length > 1 ? xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1) : 0;
  return { mean, std: Math.sqrt(v) };
}
