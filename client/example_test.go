package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/rtcd/rtcd/client"
)

// A peer that joins a room, greets everyone whose data channel opens and
// prints what they send, until the context ends.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{URL: "https://rtc.example.com", Name: "bot"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Join(ctx, "team-42"); err != nil {
		log.Fatal(err)
	}
	for {
		select {
		case ev := <-c.Events():
			switch ev.Kind {
			case client.EventDataOpen:
				_ = c.SendChat(ev.Peer, "hello from Go")
			case client.EventData:
				fmt.Printf("%s: %s\n", ev.Peer, ev.Data)
			case client.EventClosed:
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// A relay-only test call over TURN/TCP with another peer in the room, as
// `rtcd probe` places one: checksummed data both ways, then the path taken.
func ExampleRunCall() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{
		URL:            "https://rtc.example.com",
		RelayOnly:      true,
		TURNTransports: []string{client.TransportTCP},
		Video:          true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Join(ctx, "probe-room"); err != nil {
		log.Fatal(err)
	}
	res, err := client.RunCall(ctx, c, client.CallOptions{Messages: 50, Size: 1000, MinRTP: 30})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d messages, data round trip %v, via %s over %s\n",
		res.Received, res.DataRTT, res.Path.LocalType, res.Path.RelayProtocol)
}
