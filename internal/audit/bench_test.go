package audit

import (
	"testing"
)

// BenchmarkWrite is the cost of one audit record on a request's path.
func BenchmarkWrite(b *testing.B) {
	k := testKeys(b, "cluster")
	for _, policy := range []Policy{FailClosed, FailOpen} {
		b.Run(policy.String(), func(b *testing.B) {
			l, _ := openTestLog(b, Config{Fail: policy}, k)
			defer l.Close()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := l.Write(testRequest(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(policy.String()+"/parallel", func(b *testing.B) {
			l, _ := openTestLog(b, Config{Fail: policy}, k)
			defer l.Close()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := l.Write(testRequest(0)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkHashName(b *testing.B) {
	k := testKeys(b, "cluster")
	b.ReportAllocs()
	for b.Loop() {
		k.HashName("db-password")
	}
}

func BenchmarkVerify(b *testing.B) {
	k := testKeys(b, "cluster")
	l, _ := openTestLog(b, Config{}, k)
	for i := range 10000 {
		l.Write(testRequest(i))
	}
	l.Close()
	b.ResetTimer()
	for b.Loop() {
		if _, err := VerifyFiles(k.VerifyKey(), l.cfg.Path); err != nil {
			b.Fatal(err)
		}
	}
}
