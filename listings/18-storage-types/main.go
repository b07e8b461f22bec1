// Block, file and object storage, each a small real implementation in a
// temporary directory, running the same workload. The program counts the
// operations and bytes each step costs on each store.
package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

const (
	kib   = 1024
	mib   = 1024 * kib
	block = 4 * kib   // block size of the volume
	slot  = 512       // blocks reserved per file on the volume: 2 MiB
	maxIO = 256 * kib // largest I/O one request carries, as EBS counts
)

var names = []string{"docs/a.bin", "docs/b.bin", "docs/c.bin"}

// counter is what every store reports: operations and bytes moved.
type counter struct{ ops, bytes int }

func (c *counter) reset() (int, int) {
	ops, n := c.ops, c.bytes
	c.ops, c.bytes = 0, 0
	return ops, n
}

// blockDevice is a volume as one file, read and written only in whole
// blocks by block number. One request covers a run of adjacent blocks
// up to maxIO bytes. It has no names: the caller keeps its own map.
type blockDevice struct {
	counter
	f *os.File
}

// read returns count blocks from block first on, one request per maxIO.
func (d *blockDevice) read(first, count int) []byte {
	buf := make([]byte, count*block)
	for at := 0; at < len(buf); at += maxIO {
		part := buf[at:min(at+maxIO, len(buf))]
		offset := int64(first*block + at)
		if _, err := d.f.ReadAt(part, offset); err != nil {
			log.Fatalf("read at block %d failed: %v", first, err)
		}
		d.ops++
	}
	d.bytes += len(buf)
	return buf
}

// write stores data from block first on, one request per maxIO.
func (d *blockDevice) write(first int, data []byte) {
	// => the device takes whole blocks only, so short data is padded
	buf := make([]byte, (len(data)+block-1)/block*block)
	copy(buf, data)
	for at := 0; at < len(buf); at += maxIO {
		part := buf[at:min(at+maxIO, len(buf))]
		offset := int64(first*block + at)
		if _, err := d.f.WriteAt(part, offset); err != nil {
			log.Fatalf("write at block %d failed: %v", first, err)
		}
		d.ops++
	}
	d.bytes += len(buf)
}

// fileStore is a directory tree on the real filesystem; each method is
// one call a client would send to a file server such as NFS.
type fileStore struct {
	counter
	root string
}

func (s *fileStore) path(name string) string {
	return filepath.Join(s.root, name)
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func (s *fileStore) write(name string, data []byte) {
	must(os.MkdirAll(filepath.Dir(s.path(name)), 0o755))
	must(os.WriteFile(s.path(name), data, 0o644))
	s.ops++
	s.bytes += len(data)
}

func (s *fileStore) read(name string, offset, size int) []byte {
	f, err := os.Open(s.path(name))
	must(err)
	defer f.Close()
	if size < 0 {
		info, err := f.Stat()
		must(err)
		size = int(info.Size()) - offset
	}
	buf := make([]byte, size)
	_, err = f.ReadAt(buf, int64(offset))
	must(err)
	s.ops++
	s.bytes += len(buf)
	return buf
}

func (s *fileStore) writeAt(name string, offset int, data []byte) {
	// => a partial write in place: the rest of the file is untouched
	f, err := os.OpenFile(s.path(name), os.O_WRONLY, 0)
	must(err)
	defer f.Close()
	_, err = f.WriteAt(data, int64(offset))
	must(err)
	s.ops++
	s.bytes += len(data)
}

func (s *fileStore) appendTo(name string, data []byte) {
	f, err := os.OpenFile(s.path(name), os.O_WRONLY|os.O_APPEND, 0)
	must(err)
	defer f.Close()
	_, err = f.Write(data)
	must(err)
	s.ops++
	s.bytes += len(data)
}

func (s *fileStore) list(dir string) []string {
	entries, err := os.ReadDir(s.path(dir))
	must(err)
	s.ops++
	listed := make([]string, 0, len(entries))
	for _, entry := range entries {
		listed = append(listed, entry.Name())
	}
	return listed
}

func (s *fileStore) rename(old, new string) {
	// => one metadata change; no file data moves
	must(os.Rename(s.path(old), s.path(new)))
	s.ops++
}

// objectServer serves PUT, GET (with Range), DELETE and list-by-prefix
// over HTTP. A PUT with X-Copy-Source copies an object inside the store.
type objectServer struct {
	mu      sync.Mutex
	objects map[string][]byte
	copied  int // bytes copied inside the store, never sent to a client
}

func (s *objectServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := r.URL.Path
	switch {
	case r.Method == http.MethodPut && r.Header.Get("X-Copy-Source") != "":
		data := s.objects[r.Header.Get("X-Copy-Source")]
		s.objects[key] = data
		s.copied += len(data)
	case r.Method == http.MethodPut:
		data, err := io.ReadAll(r.Body)
		must(err)
		s.objects[key] = data
	case r.Method == http.MethodDelete:
		delete(s.objects, key)
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Query().Has("prefix"):
		prefix := "/" + r.URL.Query().Get("prefix")
		var keys []string
		for k := range s.objects {
			if strings.HasPrefix(k, prefix) {
				keys = append(keys, k[1:])
			}
		}
		sort.Strings(keys)
		io.WriteString(w, strings.Join(keys, "\n"))
	case r.Header.Get("Range") != "":
		// => a byte range GET: "bytes=first-last", both ends included
		spec := strings.TrimPrefix(r.Header.Get("Range"), "bytes=")
		first, last, _ := strings.Cut(spec, "-")
		a, _ := strconv.Atoi(first)
		b, _ := strconv.Atoi(last)
		w.WriteHeader(http.StatusPartialContent)
		w.Write(s.objects[key][a : b+1])
	default:
		w.Write(s.objects[key])
	}
}

// objectClient counts requests and body bytes both ways.
type objectClient struct {
	counter
	base string
}

func (c *objectClient) send(method, key string, body []byte,
	header map[string]string) []byte {
	req, err := http.NewRequest(method, c.base+key, bytes.NewReader(body))
	must(err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	must(err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	must(err)
	c.ops++
	c.bytes += len(body) + len(data)
	return data
}

func (c *objectClient) put(key string, data []byte) {
	c.send("PUT", "/"+key, data, nil)
}

func (c *objectClient) get(key string) []byte {
	return c.send("GET", "/"+key, nil, nil)
}

func (c *objectClient) getRange(key string, first, last int) []byte {
	rng := fmt.Sprintf("bytes=%d-%d", first, last)
	return c.send("GET", "/"+key, nil, map[string]string{"Range": rng})
}

func (c *objectClient) list(prefix string) []string {
	return strings.Split(string(c.send("GET", "/?prefix="+prefix, nil, nil)),
		"\n")
}

func (c *objectClient) rename(old, new string) {
	// => no rename in the object model: copy to the new key, then delete
	c.send("PUT", "/"+new, nil, map[string]string{"X-Copy-Source": "/" + old})
	c.send("DELETE", "/"+old, nil, nil)
}

func size(n int) string {
	if n >= mib && n%mib == 0 {
		return fmt.Sprintf("%d MiB", n/mib)
	}
	return fmt.Sprintf("%d KiB", n/kib)
}

func main() {
	tmp, err := os.MkdirTemp("", "storage")
	must(err)
	defer os.RemoveAll(tmp)

	f, err := os.Create(filepath.Join(tmp, "volume.img"))
	must(err)
	defer f.Close()
	must(f.Truncate(3 * slot * block))
	volume := &blockDevice{f: f}
	files := &fileStore{root: filepath.Join(tmp, "files")}
	server := &objectServer{objects: map[string][]byte{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	go http.Serve(ln, server)
	objects := &objectClient{base: "http://" + ln.Addr().String()}
	stores := []*counter{&volume.counter, &files.counter, &objects.counter}
	lengths := []int{mib, mib, mib} // the block caller's own map of sizes

	// report prints the counts since the last step, then resets them. A
	// cell of "-" means the store has no such operation.
	report := func(step string, cells []string) {
		line := fmt.Sprintf("%-13s", step)
		for i, store := range stores {
			n, moved := store.reset()
			cell := cells[i]
			if cell == "" {
				cell = fmt.Sprintf("%d op, %s", n, size(moved))
				if n != 1 {
					cell = fmt.Sprintf("%d ops, %s", n, size(moved))
				}
			}
			line += fmt.Sprintf("%-16s", cell)
		}
		fmt.Println(strings.TrimRight(line, " "))
	}
	all := []string{"", "", ""}

	fmt.Printf("%-13s%-16s%-16sobject\n", "step", "block", "file")
	// => prints: step         block           file            object

	// Write three 1 MiB files. The block store puts file i at block
	// i * 512 and writes its 256 blocks in requests of 256 KiB.
	for i, name := range names {
		data := bytes.Repeat([]byte{byte('A' + i)}, mib)
		volume.write(i*slot, data)
		files.write(name, data)
		objects.put(name, data)
	}
	report("write 3", all)
	// => prints: write 3      12 ops, 3 MiB   3 ops, 3 MiB    3 ops, 3 MiB

	// Read file b whole, then 4 KiB from its middle.
	volume.read(slot, mib/block)
	files.read(names[1], 0, -1)
	objects.get(names[1])
	report("read whole", all)
	// => prints: read whole   4 ops, 1 MiB    1 op, 1 MiB     1 op, 1 MiB
	mid := mib / 2
	volume.read(slot+mid/block, 1)
	files.read(names[1], mid, 4*kib)
	objects.getRange(names[1], mid, mid+4*kib-1)
	report("read 4 KiB", all)
	// => prints: read 4 KiB   1 op, 4 KiB     1 op, 4 KiB     1 op, 4 KiB

	// Change 4 KiB in the middle. An object cannot be changed in place,
	// so the client downloads it, patches it and uploads all of it.
	patch := bytes.Repeat([]byte("z"), 4*kib)
	volume.write(slot+mid/block, patch)
	files.writeAt(names[1], mid, patch)
	whole := objects.get(names[1])
	copy(whole[mid:], patch)
	objects.put(names[1], whole)
	report("update 4 KiB", all)
	// => prints: update 4 KiB 1 op, 4 KiB     1 op, 4 KiB     2 ops, 2 MiB

	// Append 4 KiB. The block caller writes the next block of the file's
	// slot and records the new length itself.
	volume.write(slot+lengths[1]/block, patch)
	lengths[1] += len(patch)
	files.appendTo(names[1], patch)
	whole = objects.get(names[1])
	objects.put(names[1], append(whole, patch...))
	report("append 4 KiB", all)
	// => prints: append 4 KiB 1 op, 4 KiB     1 op, 4 KiB     2 ops, 2052 KiB

	// List the directory, or the keys under the prefix. A volume has no
	// names to list.
	listed := files.list("docs")
	keys := objects.list("docs/")
	report("list docs/", []string{"-",
		fmt.Sprintf("1 op, %d names", len(listed)),
		fmt.Sprintf("1 op, %d keys", len(keys))})
	// => prints: list docs/   -               1 op, 3 names   1 op, 3 keys

	// Rename b.bin. The object store copies it to the new key inside
	// itself, so no data crosses the network, then deletes the old key.
	files.rename(names[1], "docs/b2.bin")
	server.mu.Lock()
	server.copied = 0
	server.mu.Unlock()
	objects.rename(names[1], "docs/b2.bin")
	report("rename", []string{"-", "", ""})
	// => prints: rename       -               1 op, 0 KiB     2 ops, 0 KiB
	server.mu.Lock()
	fmt.Printf("object rename copied %s inside the store\n",
		size(server.copied))
	server.mu.Unlock()
	// => prints: object rename copied 1028 KiB inside the store

	// All three hold the same bytes for the changed file.
	data := volume.read(slot, lengths[1]/block)
	same := bytes.Equal(data, files.read("docs/b2.bin", 0, -1)) &&
		bytes.Equal(data, objects.get("docs/b2.bin"))
	answer := map[bool]string{true: "yes", false: "no"}[same]
	fmt.Printf("block, file and object hold the same b.bin: %s\n", answer)
	// => prints: block, file and object hold the same b.bin: yes
}
